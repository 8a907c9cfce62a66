"""What a person watching an audit sees: a live progress bar on stderr while it runs, and the verdict
table on stdout at the end."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loadtests.audit.config import AuditConfig
from loadtests.audit.run import AuditResult, Snapshot

__all__ = ["AuditProgress", "print_table", "verdict_table"]


class AuditProgress:
    """A rich progress bar: acknowledged of planned, delivered of expected, server restarts, phase."""

    def __init__(self, config: AuditConfig, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]:<11}"),
            BarColumn(),
            TextColumn("acknowledged {task.completed:>6.0f}/{task.total:.0f}"),
            TextColumn("delivered {task.fields[delivered]}/{task.fields[expected]}"),
            TextColumn("restarts {task.fields[restarts]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            "audit", total=config.messages, phase="starting", delivered=0, expected=0, restarts=0
        )

    def update(self, snapshot: Snapshot) -> None:
        self._progress.update(
            self._task,
            completed=snapshot.acknowledged,
            phase=snapshot.phase,
            delivered=snapshot.delivered,
            expected=snapshot.expected,
            restarts=snapshot.restarts,
        )

    def __enter__(self) -> AuditProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


def verdict_table(result: AuditResult) -> Table:
    """Per strategy: delivered, lost, duplicated, out of order, foreign; a totals row underneath."""
    rec = result.reconciliation
    table = Table(
        title=f"pollbench audit: {rec.acknowledged} acknowledged, {result.server_restarts} server restarts",
        caption=_caption(result),
    )
    for name in ("strategy", "receivers", "delivered", "lost", "duplicated", "out of order", "foreign"):
        table.add_column(name, justify="left" if name == "strategy" else "right")
    for spec, tally in rec.per_strategy.items():
        table.add_row(
            spec, str(tally.subscribers), str(tally.delivered), _count(tally.lost),
            _count(tally.duplicated), _count(tally.out_of_order), _count(tally.foreign),
        )  # fmt: skip
    table.add_section()
    table.add_row(
        "all", str(result.receivers), str(rec.total("delivered")), _count(rec.total("lost")),
        _count(rec.total("duplicated")), _count(rec.total("out_of_order")), _count(rec.total("foreign")),
        style="bold",
    )  # fmt: skip
    return table


def _count(n: int) -> str:
    return f"[red]{n}[/red]" if n else "0"


def _caption(result: AuditResult) -> str:
    verdict = "PASS" if result.passed else "FAIL"
    drained = "receivers caught up" if result.drained else "drain deadline passed"
    return (
        f"{verdict}: {result.attempted}/{result.planned} posted, {result.abandoned} abandoned, "
        f"{result.rejected} rejected, {result.sender_retries} post retries "
        f"({result.reconciliation.resent_copies} committed twice), "
        f"{result.receiver_retries} receiver retries; {drained} in {result.drain_s:.1f} s; "
        f"server down {result.server_down_s:.1f} s in total; {result.duration_s:.0f} s overall"
    )


def print_table(result: AuditResult, console: Console | None = None) -> None:
    """The verdict table and, when something went wrong, the first findings."""
    # Piped output (CI logs) gets a fixed width wide enough for every column, not rich's 80.
    out = console or (Console() if Console().is_terminal else Console(width=120))
    out.print(verdict_table(result))
    if result.attempted < result.planned:
        out.print(
            f"[yellow]note:[/yellow] only {result.attempted} of {result.planned} planned messages were "
            f"posted within the sending phase ({result.sending_s:.0f} s): this machine (or the crashes) "
            "could not keep up with the rate; give --duration more time to post them all."
        )
    for finding in result.reconciliation.examples:
        out.print(f"  {finding.kind}: {finding.subscriber} order {finding.order_id} seq {finding.seq}")
