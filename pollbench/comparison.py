"""One comparison run: calibration, measured load tests, simulation and the report, in one directory.

``pollbench compare`` builds a :class:`ComparisonRun` and calls :meth:`ComparisonRun.run`. Layout of
``out``::

    calibration.json     the simulator's constants, measured here (or the file the user gave)
    measured/            summary.json + deliveries.parquet + Locust reports (source = measured)
    sim/                 summary.json + deliveries.parquet (source = sim)
    report.html, report.md, charts/
    summary.json         both sources, the calibration and the agreement table (kind = pollbench-compare)

The top-level summary.json is marked ``"kind": "pollbench-compare"`` so ``pollbench report OUT`` reads the
two results directories under it rather than mistaking it for one.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pollbench.commands import CommandError
from pollbench.results import read_summary, to_jsonable, write_deliveries, write_summary

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from pollbench.scenario import Scenario
    from pollbench.strategies import Strategy
    from reports.build import ReportFiles

__all__ = ["COMPARE_KIND", "ComparisonRun"]

COMPARE_KIND = "pollbench-compare"
"""``kind`` of the top-level summary.json a comparison writes."""


@dataclass(kw_only=True)
class ComparisonRun:
    """Inputs of one comparison; :meth:`run` does the work and returns the report files."""

    out: Path
    """Output directory (created)."""
    scenario: Scenario
    """The measured scenario (clients, orders, messages, loopback RTT); the simulation runs it longer."""
    profile_users: int
    """Receiving clients per strategy."""
    duration_s: float
    """Seconds the load test's senders post."""
    message_interval_s: float
    """Mean seconds between messages per order."""
    parallel: int
    """Strategies measured at the same time."""
    calibrate_alongside: bool
    """Calibrate in a thread while the load tests run."""
    calibration_file: Path | None
    """A calibration to use instead of measuring one."""
    host: str | None
    """A running server to measure instead of embedded ones (already checked by pollbench.targets)."""
    fixtures: Path | None
    """Fixtures of ``host``."""
    quick: bool
    """Smaller calibration samples."""
    sim_duration_s: float
    """Simulated seconds."""
    console: Console
    """Where progress goes (stderr)."""
    server_cpu_quota: float | None = None
    """Share of one core every server the comparison starts may use once seeded (calibration's and the
    load tests'); None: no limit. The scenario carries the same value for the simulated side."""

    @property
    def calibration_path(self) -> Path:
        return self.out / "calibration.json"

    # --- the steps -----------------------------------------------------------------------------------

    def run(self, strategies: tuple[Strategy, ...]) -> ReportFiles:
        """Calibrate, measure, simulate, report; CommandError when a part cannot run."""
        noop_s = self._calibrate_and_measure(strategies)
        self._simulate()
        for source in ("measured", "sim"):
            self._stamp_machine(self.out / source, noop_s)
        return self._report()

    def _calibrate_and_measure(self, strategies: tuple[Strategy, ...]) -> float | None:
        if self.calibration_file is not None:
            if self.calibration_file != self.calibration_path:
                shutil.copyfile(self.calibration_file, self.calibration_path)
            self.console.print(f"[bold]1/4 calibration[/bold]: using {self.calibration_file}")
            self._measure(strategies)
            return _noop_from_file(self.calibration_path)
        if not self.calibrate_alongside:
            noop = self._calibrate(show_progress=True)
            self._measure(strategies)
            return noop
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["noop"] = self._calibrate(show_progress=False)
            except BaseException as exc:  # reported in the main thread
                box["error"] = exc

        thread = threading.Thread(target=work, name="calibrate", daemon=True)
        self.console.print("[bold]1/4 calibration[/bold]: measuring alongside the load tests (--quick)")
        thread.start()
        self._measure(strategies)
        thread.join()
        if "error" in box:
            raise CommandError(f"calibration failed: {box['error']}")
        return float(box["noop"])

    def _calibrate(self, *, show_progress: bool) -> float:
        from rich.progress import Progress

        from loadtests.calibrate import CalibrateError, calibrate

        try:
            if show_progress:
                self.console.print("[bold]1/4 calibration[/bold]: server cost per request kind, this machine")
                with Progress(console=self.console, transient=True) as bar:
                    task = bar.add_task("starting", total=1.0)

                    def progress(what: str, done: float) -> None:
                        bar.update(task, description=what, completed=done)

                    result = calibrate(
                        self.host,
                        fixtures=self.fixtures,
                        quick=self.quick,
                        progress=progress,
                        cpu_quota=self.server_cpu_quota,
                    )
            else:
                result = calibrate(
                    self.host, fixtures=self.fixtures, quick=self.quick, cpu_quota=self.server_cpu_quota
                )
        except CalibrateError as exc:
            raise CommandError(f"calibration: {exc}") from None
        self.calibration_path.write_text(result.to_json(), encoding="utf-8")
        self.console.print(
            f"calibration: no-op {result.noop_s * 1e6:.0f} µs/request, "
            f"{result.calibration.memory_per_connection_bytes / 1024:.1f} KiB per push connection "
            f"-> {self.calibration_path}"
        )
        return result.noop_s

    def _measure(self, strategies: tuple[Strategy, ...]) -> None:
        from loadtests.runner import LoadTestConfig
        from loadtests.session import run_loadtest
        from loadtests.thresholds import Thresholds

        self.console.print(
            f"[bold]2/4 measured[/bold]: {len(strategies)} strategies x {self.profile_users} receivers, "
            f"{self.duration_s:g} s of messages, {self.parallel} at a time"
        )
        config = LoadTestConfig(
            users=self.profile_users,
            spawn_rate=max(10.0, self.profile_users / 2.0),
            duration_s=self.duration_s,
            message_interval_s=self.message_interval_s,
            orders_per_customer=self.scenario.orders_per_client,
            admins=1,
            out=self.out / "measured",
            host=self.host,
            fixtures=self.fixtures,
            seed=self.scenario.seed,
            parallel=self.parallel,
            message_bytes=self.scenario.message_bytes,
            server_cpu_quota=self.server_cpu_quota,
        )
        run_loadtest(config, strategies, self.scenario, Thresholds(), console=self.console)

    def _simulate(self) -> None:
        from rich.progress import Progress

        from sim.calibration import CalibrationError, load_calibration
        from sim.run import simulate

        scenario = self.scenario.override(
            duration=self.sim_duration_s,
            calibration=str(self.calibration_path),
            conversation_messages=self._conversation_messages(),
        )
        try:
            calibration = load_calibration(self.calibration_path)
        except CalibrationError as exc:
            raise CommandError(str(exc)) from None
        self.console.print(
            f"[bold]3/4 simulated[/bold]: the same scenario for {self.sim_duration_s:g} simulated s "
            "(steady state), loopback network, this calibration"
        )
        with Progress(console=self.console, transient=True) as bar:
            tasks = {spec: bar.add_task(spec, total=1.0) for spec in scenario.strategies}

            def progress(spec: str, fraction: float) -> None:
                bar.update(tasks[spec], completed=fraction)

            result = simulate(scenario, calibration=calibration, progress=progress, workers=1)
        write_summary(self.out / "sim", result.summary)
        write_deliveries(self.out / "sim", result.deliveries_columns())

    def _conversation_messages(self) -> float:
        """Messages a load-test order holds, on average, when the seed's dashboard polls it in the window.

        The load test's orders start with the seeded conversation (the calibrated full body) and gain one
        message every ``message_interval_s``; the measured bytes are counted from the warm-up to the end of
        the sending, so a full GET then carries (warm-up + duration) / 2 / interval messages more. This is
        the scenario the load test ran, computed from its inputs, not fitted to what it measured.
        """
        from loadtests.steps import warm_up_seconds
        from pollbench.strategies import SeedDashboard, parse_strategies

        dashboards = [s for s in parse_strategies(self.scenario.strategies) if isinstance(s, SeedDashboard)]
        if not dashboards or self.host is not None:  # a running server's orders are not ours to predict
            return 0.0
        warm = warm_up_seconds(
            dashboards[0],
            send_for_s=self.duration_s,
            users=self.profile_users,
            spawn_rate=max(10.0, self.profile_users / 2.0),
        )
        return (warm + self.duration_s) / (2.0 * self.message_interval_s)

    def _stamp_machine(self, results_dir: Path, noop_s: float | None) -> None:
        """Record the same-run machine yardstick so ``pollbench check`` can normalise timings."""
        if noop_s is None:
            return
        summary = read_summary(results_dir)
        machine = {**summary.machine, "calibration_s": noop_s, "calibration_what": "server CPU s per no-op"}
        write_summary(results_dir, replace(summary, machine=machine))

    def _report(self) -> ReportFiles:
        from reports.build import build_report

        self.console.print("[bold]4/4 report[/bold]: charts, capacity plan, sim vs measured")
        files = build_report([self.out / "sim", self.out / "measured"], self.out)
        self._write_summary(files)
        return files

    def _write_summary(self, files: ReportFiles) -> None:
        data = {
            "kind": COMPARE_KIND,
            "sources": {"sim": "sim", "measured": "measured"},
            "server_cpu_quota": self.server_cpu_quota,
            "calibration": _json(self.calibration_path),
            "sim": asdict(read_summary(self.out / "sim")),
            "measured": asdict(read_summary(self.out / "measured")),
            "agreement": files.contents.agreement.to_dict("records"),
            "recommendation": {
                "title": files.contents.recommendation.title,
                "text": files.contents.recommendation.text,
            },
        }
        text = json.dumps(to_jsonable(data), indent=2) + "\n"
        (self.out / "summary.json").write_text(text, encoding="utf-8")

    # --- what the terminal shows ---------------------------------------------------------------------

    def terminal_table(self, files: ReportFiles) -> Table:
        """Per strategy: each compared metric as sim / measured (ratio), and a verdict."""
        from rich.table import Table

        table = Table(title="pollbench compare: simulated / measured (ratio)")
        metrics = {
            "latency_s.p50": "p50 s",
            "latency_s.p95": "p95 s",
            "requests_per_s": "req/s",
            "bytes_per_poll": "B/poll",
        }
        table.add_column("strategy")
        for label in metrics.values():
            table.add_column(label, justify="right")
        table.add_column("verdict")
        frame = files.contents.agreement
        for strategy in dict.fromkeys(frame["strategy"].tolist()) if not frame.empty else ():
            rows = frame[frame["strategy"] == strategy].set_index("metric")
            cells = [_pair(rows.loc[m]) if m in rows.index else "-" for m in metrics]
            bad = [metrics[m] for m in metrics if m in rows.index and rows.loc[m]["agrees"] is False]
            table.add_row(strategy, *cells, "[red]differs: " + ", ".join(bad) + "[/red]" if bad else "agrees")
        return table

    def closing_lines(self, files: ReportFiles) -> list[str]:
        rec = files.contents.recommendation
        lines = [f"[bold]{rec.title}[/bold]: {rec.text}"]
        lines += [f"seed claim {c.title}: [bold]{c.verdict}[/bold]" for c in files.contents.claims]
        return lines


def _pair(row: Any) -> str:
    sim, measured, ratio = float(row["sim"]), float(row["measured"]), float(row["ratio"])
    if sim != sim or measured != measured:
        return "-"
    return f"{_short(sim)} / {_short(measured)} ({ratio:.2f})" if ratio == ratio else f"{_short(sim)} / 0"


def _short(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _noop_from_file(path: Path) -> float | None:
    """The no-op yardstick a calibration file recorded (meta.noop_us), if any."""
    meta = _json(path).get("meta") or {}
    value = meta.get("noop_us")
    return float(value) / 1e6 if isinstance(value, int | float) and value > 0 else None
