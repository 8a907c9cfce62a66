"""Workload: a named planning workload, the traffic a capacity figure is for.

A workload is a scenario with a name: a preset shipped in ``pollbench/presets/`` (``seed-chat``, the seed's
order chat) or a scenario file of the user's. Every planning figure names the workload it is for, and a
results directory records it in its summary's scenario under ``workload``. The chatty load that
``pollbench compare`` measures and simulates so its statistics converge quickly is the
:data:`AGREEMENT_WORKLOAD`, never a planning one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pollbench.results import Summary
from pollbench.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "AGREEMENT_WORKLOAD",
    "DEFAULT_WORKLOAD",
    "PRESETS_DIR",
    "WORKLOAD_KEY",
    "Workload",
    "WorkloadError",
    "describe_presets",
    "load_workload",
    "preset_names",
    "tag_summary",
    "workload_of",
]

PRESETS_DIR = Path(__file__).with_name("presets")
"""Where the preset TOML files live (package data)."""
DEFAULT_WORKLOAD = "seed-chat"
"""The planning workload when none is named."""
AGREEMENT_WORKLOAD = "agreement load"
"""The workload of a comparison's sim/measured agreement runs: a message every few seconds in every order,
chosen so that statistics converge in seconds. No plan is made for it."""
WORKLOAD_KEY = "workload"
"""Key of a summary's scenario that names its workload."""


class WorkloadError(ScenarioError):
    """A workload name that is no preset, or a workload file that is missing or bad; the message says so."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A planning workload: its name, its scenario and the file it came from."""

    name: str
    """Preset name (``seed-chat``), or the scenario file as given."""
    scenario: Scenario
    """Every input of the workload (flags already applied)."""
    path: Path
    """The TOML file it was read from."""


def preset_names() -> tuple[str, ...]:
    """Names of the shipped presets, sorted."""
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))


def describe_presets() -> dict[str, str]:
    """Preset name -> its one-line description (the first comment line of its file)."""
    return {name: _description(PRESETS_DIR / f"{name}.toml") for name in preset_names()}


def _description(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#"):
            head = text.lstrip("#").strip()
            return head.split(":", 1)[1].strip() if head.startswith(f"{path.stem}:") else head
        if text:
            break
    return ""


def _unknown(name: str) -> WorkloadError:
    return WorkloadError(
        f"unknown workload {name!r}: presets are {', '.join(preset_names())} "
        "(pollbench workloads lists them), or give a scenario file (FILE.toml)"
    )


def load_workload(name_or_path: str | Path, **overrides: Any) -> Workload:
    """The preset called `name_or_path`, or the scenario file at that path, with flag `overrides` applied.

    A bare name that is no preset and no existing file is refused with the list of presets; a file that is
    missing or not a valid scenario is refused with the reason.
    """
    text = str(name_or_path)
    if text in preset_names():
        path, name = PRESETS_DIR / f"{text}.toml", text
    else:
        path, name = Path(text), text
        looks_like_file = path.suffix == ".toml" or len(path.parts) > 1
        if not path.exists() and not looks_like_file:
            raise _unknown(text)
        if not path.is_file():
            presets = ", ".join(preset_names())
            raise WorkloadError(f"workload file {text}: no such file; presets are {presets}")
    try:
        scenario = load_scenario(path, **overrides)
    except ScenarioError as exc:
        raise WorkloadError(f"workload {name}: {exc}") from None
    return Workload(name=name, scenario=scenario, path=path)


def workload_of(scenario: Mapping[str, Any]) -> str:
    """The workload a summary's scenario records ('' when it names none)."""
    value = scenario.get(WORKLOAD_KEY)
    return value if isinstance(value, str) else ""


def tag_summary(summary: Summary, workload: str) -> Summary:
    """`summary` with its scenario naming `workload`."""
    return replace(summary, scenario={**summary.scenario, WORKLOAD_KEY: workload})
