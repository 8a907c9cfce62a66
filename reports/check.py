"""The CI regression gate: compare a run's per-strategy figures with a baseline.

Metrics fall in three kinds, each with its own tolerance (relative change, ``new / old - 1``):

* **deterministic** — everything of a simulated run at the baseline's seed, and bytes per poll of any run
  (wire bytes do not depend on timing). Compared tightly (1 %) in both directions: any change is a change of
  the model or the wire format and must be accepted deliberately with ``--update-baseline``.
* **timing** — latency and utilization of measured runs. When the baseline and the run both carry a same-run
  calibration figure (``machine.calibration_s``), they are divided by it first, so a slower CI runner does
  not look like a regression (15 %). Without one they get a generous raw tolerance (30 %).
* **rate** — requests/s, bytes per client and per delivery, energy of measured runs (15 %).

Only a move in the bad direction fails a timing or rate metric; a large improvement is reported so the
baseline can be refreshed. Failures (errors counted during the run) must not grow at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pollbench.results import ResultsError
from reports.baseline import Baseline, BaselineRun, baseline_from_results
from reports.load import ResultSet

__all__ = [
    "CHECKED_METRICS",
    "DEFAULT_TOLERANCES",
    "Check",
    "CheckReport",
    "Tolerances",
    "check_results",
    "parse_tolerances",
]

Kind = Literal["deterministic", "timing", "raw-timing", "rate", "count"]
Direction = Literal["higher-worse", "both"]
Status = Literal["ok", "regressed", "changed", "improved", "missing", "new", "skipped"]

CHECKED_METRICS: dict[str, tuple[Literal["timing", "rate", "bytes", "count"], Direction]] = {
    "latency_s.p50": ("timing", "higher-worse"),
    "latency_s.p95": ("timing", "higher-worse"),
    "latency_s.p99": ("timing", "higher-worse"),
    "server_utilization": ("timing", "higher-worse"),
    "requests_per_s": ("rate", "both"),
    "bytes_per_client_per_min": ("rate", "higher-worse"),
    "bytes_per_delivery": ("rate", "higher-worse"),
    "energy_j_per_client_hour": ("rate", "higher-worse"),
    "bytes_per_poll": ("bytes", "both"),
    "failures": ("count", "higher-worse"),
}
"""Metric path -> (family, which direction is a regression)."""

DEFAULT_TOLERANCES: dict[str, float] = {
    "deterministic": 0.01,
    "timing": 0.15,
    "raw-timing": 0.30,
    "rate": 0.15,
}
_FAILING: frozenset[str] = frozenset({"regressed", "changed", "missing"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerances:
    """Relative tolerances by kind, and per-metric overrides."""

    by_kind: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    """Kind (deterministic, timing, raw-timing, rate) -> largest allowed relative change."""
    by_metric: Mapping[str, float] = field(default_factory=dict)
    """Metric path -> tolerance overriding its kind's."""

    def of(self, metric: str, kind: str) -> float:
        """The tolerance applied to `metric` compared as `kind`."""
        return float(self.by_metric.get(metric, self.by_kind.get(kind, 0.0)))


def parse_tolerances(items: list[str]) -> Tolerances:
    """``--tolerance`` values: ``0.2`` (timing, raw-timing and rate), ``KIND=X`` or ``METRIC=X``."""
    by_kind = dict(DEFAULT_TOLERANCES)
    by_metric: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        text = value if sep else key
        try:
            x = float(text)
        except ValueError:
            raise ResultsError(f"--tolerance {item!r}: the tolerance must be a number, e.g. 0.2") from None
        if not math.isfinite(x) or x < 0:
            raise ResultsError(f"--tolerance {item!r}: the tolerance must be >= 0")
        if not sep:
            by_kind.update({"timing": x, "raw-timing": x, "rate": x})
        elif key in by_kind:
            by_kind[key] = x
        elif key in CHECKED_METRICS:
            by_metric[key] = x
        else:
            names = ", ".join([*DEFAULT_TOLERANCES, *CHECKED_METRICS])
            raise ResultsError(f"--tolerance {item!r}: unknown kind or metric {key!r}; use one of {names}")
    return Tolerances(by_kind=by_kind, by_metric=by_metric)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One (source, strategy, metric) comparison."""

    source: str
    """The run compared: 'sim', 'measured', or 'sim:WORKLOAD' for a planning workload's (baseline.run_key)."""
    strategy: str
    """Strategy spec."""
    metric: str
    """Metric path, or 'present' for a strategy missing from the results."""
    baseline: float
    """Baseline value (raw, before normalisation)."""
    current: float
    """New value (raw)."""
    change: float
    """Relative change compared (after normalisation when `normalised`): new / old - 1."""
    tolerance: float
    """Largest allowed relative change."""
    kind: str
    """How it was compared: deterministic, timing, raw-timing, rate or count."""
    normalised: bool
    """True when both values were divided by their run's calibration figure first."""
    status: Status
    """ok, regressed, changed, improved, missing, new or skipped."""

    @property
    def failed(self) -> bool:
        """True when this comparison fails the gate."""
        return self.status in _FAILING


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """Every comparison of a run against its baseline."""

    checks: list[Check]
    """All comparisons, in baseline order."""
    uncompared_sources: list[str] = field(default_factory=list)
    """Sources in the results that the baseline has no figures for (not compared)."""

    @property
    def failures(self) -> list[Check]:
        """Comparisons that fail the gate."""
        return [c for c in self.checks if c.failed]

    @property
    def passed(self) -> bool:
        """True when nothing regressed, changed or went missing."""
        return not self.failures


def _kind(metric: str, old: BaselineRun, new: BaselineRun) -> Kind:
    family = CHECKED_METRICS[metric][0]
    if family == "count":
        return "count"
    if family == "bytes" or (new.source == "sim" and old.seed is not None and new.seed == old.seed):
        return "deterministic"
    if family == "timing":
        return "timing" if old.calibration_s and new.calibration_s else "raw-timing"
    return "rate" if new.source == "measured" else "raw-timing"


def _change(old: float, new: float) -> float:
    if old == new:
        return 0.0
    if old == 0:
        return math.copysign(math.inf, new)
    return new / old - 1


def _status(kind: Kind, direction: Direction, change: float, tol: float) -> Status:
    if kind == "count":
        return "regressed" if change > 0 else "ok"
    if kind == "deterministic" or direction == "both":
        return "changed" if abs(change) > tol else "ok"
    if change > tol:
        return "regressed"
    return "improved" if change < -tol else "ok"


def _compare(metric: str, old: BaselineRun, new: BaselineRun, strategy: str, tol: Tolerances) -> Check:
    a = old.strategies[strategy].get(metric, math.nan)
    b = new.strategies[strategy].get(metric, math.nan)
    kind = _kind(metric, old, new)
    tolerance = tol.of(metric, kind)

    def result(change: float, status: Status, normalised: bool = False) -> Check:
        return Check(
            source=new.key,
            strategy=strategy,
            metric=metric,
            baseline=a,
            current=b,
            change=change,
            tolerance=tolerance,
            kind=kind,
            normalised=normalised,
            status=status,
        )

    if math.isnan(a) or math.isnan(b):
        return result(
            math.nan, "skipped" if math.isnan(a) and math.isnan(b) else "new" if math.isnan(a) else "missing"
        )
    if kind == "timing" and old.calibration_s and new.calibration_s:
        change = _change(a / old.calibration_s, b / new.calibration_s)
        return result(change, _status(kind, CHECKED_METRICS[metric][1], change, tolerance), normalised=True)
    change = _change(a, b)
    return result(change, _status(kind, CHECKED_METRICS[metric][1], change, tolerance))


def _present(source: str, strategy: str, status: Status) -> Check:
    """A strategy in only one of baseline and results: missing (fails) or new (reported only)."""
    missing = status == "missing"
    return Check(
        source=source,
        strategy=strategy,
        metric="present",
        baseline=1.0 if missing else 0.0,
        current=0.0 if missing else 1.0,
        change=-1.0 if missing else math.inf,
        tolerance=0.0,
        kind="count",
        normalised=False,
        status=status,
    )


def check_results(
    baseline: Baseline, results: ResultSet, tolerances: Tolerances | None = None
) -> CheckReport:
    """Compare every strategy of `results` with `baseline`.

    Raises ResultsError when the results and the baseline share no source (they cannot be compared).
    """
    tol = tolerances or Tolerances()
    current = baseline_from_results(results)
    shared = [s for s in baseline.runs if s in current.runs]
    if not shared:
        raise ResultsError(
            f"the baseline holds {', '.join(baseline.runs)} results but the results directory holds "
            f"{', '.join(current.runs) or 'none'}; nothing to compare"
        )
    checks: list[Check] = []
    for source in baseline.runs:
        old = baseline.runs[source]
        new = current.runs.get(source)
        for strategy in old.strategies:
            if new is None or strategy not in new.strategies:
                checks.append(_present(source, strategy, "missing"))
                continue
            checks.extend(_compare(m, old, new, strategy, tol) for m in CHECKED_METRICS)
        for strategy in new.strategies if new is not None else {}:
            if strategy not in old.strategies:
                checks.append(_present(source, strategy, "new"))
    return CheckReport(checks=checks, uncompared_sources=[s for s in current.runs if s not in baseline.runs])
