"""The reconnect storm after a restart, as the report shows it.

A simulated run made with ``pollbench simulate --restart-downtime S`` carries, per strategy, what happens
when one server process dies and listens again S seconds later (``StrategyResult.reconnect_storm``, written
by ``sim.reconnect``): when its clients are back, how many attempts the closed port refused, how far the
arrival rate jumps above normal, how long requests wait and how long the event loop stays saturated. The
table here is rendered by both the HTML and the Markdown report; the notes turn it into the capacity
question an operator asks: *after a deploy or a crash, how long is this process saturated?*
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pollbench.results import ReconnectStorm
from reports.contents import Table
from reports.load import ResultSet
from reports.numbers import fmt

__all__ = ["SATURATED_FLAG_S", "STORM_TITLE", "StormRow", "storm_notes", "storm_rows", "storm_table"]

STORM_TITLE = "Reconnect storm after a restart"
SATURATED_FLAG_S = 1.0
"""A storm that keeps the event loop busy without a break for this long (seconds) is flagged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StormRow:
    """One strategy's storm in one run."""

    run: str
    """Label of the results directory."""
    strategy: str
    """Canonical strategy spec."""
    storm: ReconnectStorm
    """The simulated restart."""
    offered_load: float
    """The process's offered load in normal operation (NaN when the run did not record it)."""

    @property
    def overloaded(self) -> bool:
        """True when the process could not keep up even before the restart."""
        return self.offered_load > 1

    @property
    def flagged(self) -> bool:
        """True when the storm saturates the loop for long, or the loop never drains."""
        return self.overloaded or self.storm.saturated_s >= SATURATED_FLAG_S


def storm_rows(results: ResultSet) -> list[StormRow]:
    """Every strategy of every run that carries a reconnect storm, in run then strategy order."""
    rows = []
    for label, summary in results.summaries.items():
        for spec, result in summary.strategies.items():
            if result.reconnect_storm is not None:
                load = result.extra.get("offered_load", math.nan)
                rows.append(
                    StormRow(
                        run=label,
                        strategy=spec,
                        storm=result.reconnect_storm,
                        offered_load=float(load) if load is not None else math.nan,
                    )
                )
    return rows


def _ratio(storm: ReconnectStorm) -> float:
    return storm.peak_rate_per_s / storm.normal_rate_per_s if storm.normal_rate_per_s > 0 else math.inf


def storm_table(results: ResultSet) -> Table | None:
    """The storm of every strategy as a report table; None when no run modelled a restart."""
    rows = storm_rows(results)
    if not rows:
        return None
    cells = [
        [
            r.run,
            r.strategy,
            fmt(r.storm.clients),
            fmt(r.storm.downtime_s),
            r.storm.notice,
            fmt(r.storm.back_50_s),
            fmt(r.storm.back_99_s),
            fmt(r.storm.back_100_s),
            fmt(r.storm.failed_attempts),
            fmt(r.storm.peak_rate_per_s),
            fmt(_ratio(r.storm)),
            fmt(r.storm.wait_peak_s),
            fmt(r.storm.wait_p99_s),
            "never drains" if r.overloaded else fmt(r.storm.saturated_s),
        ]
        for r in rows
    ]
    return Table(
        caption="One server process restarting (simulated): seconds from the crash until 50, 99 and 100 % "
        "of its clients are back, attempts refused while it was down, peak arrival rate (and its multiple of "
        "the normal rate), queue waits, and how long the event loop stays saturated.",
        columns=[
            "run",
            "strategy",
            "clients",
            "downtime s",
            "clients notice",
            "50 % back s",
            "99 % back s",
            "all back s",
            "refused attempts",
            "peak req/s",
            "× normal",
            "wait peak s",
            "wait p99 s",
            "saturated s",
        ],  # fmt: skip
        rows=cells,
        flagged=[r.flagged for r in rows],
    )


def _note(row: StormRow) -> str:
    s = row.storm
    head = f"{row.strategy} (`{row.run}`): 99 % of the clients are back {fmt(s.back_99_s)} s after the crash"
    if row.overloaded:
        return (
            f"{head}, but the process is overloaded even without a restart (offered load "
            f"{fmt(row.offered_load)}): its queue never drains; add processes first."
        )
    if s.saturated_s >= SATURATED_FLAG_S:
        return (
            f"{head}; the storm keeps the process saturated for {fmt(s.saturated_s)} s (its backlog clears "
            f"{fmt(s.saturated_until_s)} s after the crash, requests wait up to {fmt(s.wait_peak_s)} s): "
            "keep that much headroom, or restart processes one at a time."
        )
    return (
        f"{head}; the process absorbs the storm (busy without a break for {fmt(s.saturated_s)} s at most, "
        f"p99 wait {fmt(s.wait_p99_s)} s)."
    )


def storm_notes(results: ResultSet) -> list[str]:
    """Sentences for the section: the restart and policy, then per strategy how long it stays saturated."""
    rows = storm_rows(results)
    if not rows:
        return []
    first = rows[0].storm
    policy = first.backoff
    intro = (
        f"Simulated: one server process with {fmt(first.clients)} clients dies and listens again "
        f"{fmt(first.downtime_s)} s later. Clients retry with capped exponential backoff and full jitter "
        f"(first ceiling {fmt(policy.get('initial_s'))} s, cap {fmt(policy.get('cap_s'))} s); push and "
        "long-poll clients notice at the crash, pollers at their next poll. Times count from the crash."
    )
    ranked = sorted(rows, key=lambda r: (not r.overloaded, -r.storm.saturated_s))
    return [intro, *(_note(r) for r in ranked)]
