"""Capacity curves: how many concurrent clients one server process holds before it breaks the SLO.

A capacity search (simulated or measured) adds clients step by step and watches p99 delivery latency, server
utilization and the failure ratio. Its steps may be stored next to a summary as ``capacity.json``::

    {"capacity_schema": 1,
     "curves": [
        {"strategy": "poll:3", "source": "measured", "server_processes": 1, "slo_p99_s": 3.0,
         "steps": [{"clients": 100, "p99_s": 1.9, "utilization": 0.12, "fail_ratio": 0.0, "ok": true},
                   {"clients": 200, "p99_s": 4.1, "utilization": 0.97, "fail_ratio": 0.02, "ok": false}]}]}

A single curve object (``{"strategy": ..., "steps": [...]}``) is accepted as the whole file too. ``source``
defaults to the summary's source, ``server_processes`` to 1 and ``slo_p99_s`` to null (no SLO line).
``clients`` counts clients on all ``server_processes`` together. The maximum clients per process is the last
``ok`` step before the first failing one, divided by ``server_processes``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pollbench.results import ResultsError

__all__ = [
    "CAPACITY_COLUMNS",
    "CAPACITY_FILE",
    "CAPACITY_SCHEMA",
    "max_clients_per_process",
    "read_capacity",
    "write_capacity",
]

CAPACITY_FILE = "capacity.json"
CAPACITY_SCHEMA = 1
CAPACITY_COLUMNS: tuple[str, ...] = (
    "run",
    "source",
    "strategy",
    "server_processes",
    "slo_p99_s",
    "clients",
    "p99_s",
    "utilization",
    "fail_ratio",
    "ok",
)
_STEP_KEYS = ("clients", "p99_s", "utilization", "fail_ratio", "ok")


def write_capacity(directory: str | Path, curves: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``capacity.json`` holding `curves` (each a mapping as in the module docstring)."""
    for curve in curves:
        _check_curve(curve, Path(directory) / CAPACITY_FILE)
    target = Path(directory) / CAPACITY_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {"capacity_schema": CAPACITY_SCHEMA, "curves": [dict(c) for c in curves]}
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return target


def _check_curve(curve: Any, path: Path) -> None:
    if not isinstance(curve, Mapping) or not isinstance(curve.get("strategy"), str):
        raise ResultsError(f"{path}: each capacity curve needs a 'strategy' string and a 'steps' list")
    steps = curve.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ResultsError(f"{path}: capacity curve {curve['strategy']!r} has no 'steps' list")
    for i, step in enumerate(steps):
        missing = [k for k in _STEP_KEYS if not isinstance(step, Mapping) or k not in step]
        if missing:
            raise ResultsError(f"{path}: step {i} of {curve['strategy']!r} lacks {', '.join(missing)}")


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _curve_rows(curve: Mapping[str, Any], run: str, default_source: str) -> list[dict[str, Any]]:
    base = {
        "run": run,
        "source": str(curve.get("source", default_source)),
        "strategy": curve["strategy"],
        "server_processes": int(curve.get("server_processes", 1)),
        "slo_p99_s": _float(curve.get("slo_p99_s")),
    }
    return [
        {
            **base,
            "clients": int(s["clients"]),
            "p99_s": _float(s["p99_s"]),
            "utilization": _float(s["utilization"]),
            "fail_ratio": _float(s["fail_ratio"]),
            "ok": bool(s["ok"]),
        }
        for s in curve["steps"]
    ]


def read_capacity(
    directory: str | Path | None, *, run: str = "", default_source: str = "measured"
) -> pd.DataFrame:
    """Steps of every capacity curve in ``directory/capacity.json`` as rows of CAPACITY_COLUMNS.

    `directory` None gives the empty table. Raises ResultsError when the file is malformed.
    """
    if directory is None:
        return pd.DataFrame(columns=list(CAPACITY_COLUMNS))
    path = Path(directory)
    if path.is_dir():
        path = path / CAPACITY_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    curves = doc.get("curves") if isinstance(doc, dict) and "curves" in doc else [doc]
    if not isinstance(curves, list):
        raise ResultsError(f"{path}: 'curves' must be a list of capacity curves")
    rows: list[dict[str, Any]] = []
    for curve in curves:
        _check_curve(curve, path)
        try:
            rows.extend(_curve_rows(curve, run, default_source))
        except (TypeError, ValueError) as exc:
            raise ResultsError(f"{path}: bad value in capacity curve {curve['strategy']!r} ({exc})") from None
    return pd.DataFrame(rows, columns=list(CAPACITY_COLUMNS))


def max_clients_per_process(steps: pd.DataFrame) -> float:
    """Clients per process at the last passing step before the first failing one (NaN if the first fails).

    `steps` are the rows of one curve (one run, source and strategy).
    """
    ordered = steps.sort_values("clients")
    best = math.nan
    for row in ordered.to_dict("records"):
        if not row["ok"]:
            break
        best = float(row["clients"]) / max(int(row["server_processes"]), 1)
    return best
