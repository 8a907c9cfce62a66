"""One comparison run: calibration, the agreement load measured and simulated, the planning workload
simulated, and the report, in one directory.

``pollbench compare`` builds a :class:`ComparisonRun` and calls :meth:`ComparisonRun.run`. Layout of
``out``::

    calibration.json     the simulator's constants, measured here (or the file the user gave)
    measured/            the agreement load measured: summary.json + deliveries.parquet + Locust reports
    sim/                 the agreement load simulated (source = sim)
    plan/                the planning workload (seed-chat by default) simulated with the calibration
    knees/measured/      capacity.json of a measured knee search, when one ran (schema 2)
    knees/sim/           capacity.json of a simulated knee search, when one ran
    report.html, report.md, charts/
    summary.json         the summaries, the calibration, the agreement table, the workload and the
                         recommendation (kind = pollbench-compare)

The agreement load (a message every 2-3 s in every order) exists so that simulated and measured statistics
converge in seconds; no plan is made for it. Every plan, claim and recommendation is for the planning
workload. The top-level summary.json is marked ``"kind": "pollbench-compare"`` so ``pollbench report OUT``
reads the results directories under it rather than mistaking it for one.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pollbench.commands import CommandError
from pollbench.results import Summary, read_summary, to_jsonable, write_deliveries, write_summary
from pollbench.workload import AGREEMENT_WORKLOAD, DEFAULT_WORKLOAD, Workload, load_workload, tag_summary

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from loadtests.knee import KneeSettings
    from pollbench.scenario import Scenario
    from pollbench.strategies import Strategy
    from reports.build import ReportFiles
    from sim.calibration import Calibration

__all__ = ["COMPARE_KIND", "PLAN_HEADROOM", "ComparisonRun"]

COMPARE_KIND = "pollbench-compare"
"""``kind`` of the top-level summary.json a comparison writes."""

PLAN_HEADROOM = 0.5
"""Busiest a server process may be in the planning simulation. Latencies of an overloaded process are
queueing, not the strategy; the plan's figures are read where every process has headroom, so the
simulation runs on as many processes as keep the busiest strategy below this."""

KNEE_MIN_CEILING = 200
"""Search ceiling of a knee at least (and customers seeded for it)."""
KNEE_CEILING_FACTOR = 1.6
"""Ceiling over the largest simulated knee: the probes from 0.75 of it by x1.2 pass it by a third."""
SIM_KNEE_S = 120.0
"""Simulated seconds of each probe of a simulated knee search."""

_STEPS = ("calibration", "measured", "simulated", "planning workload", "knees", "report")
"""Steps in the order they run."""

KNEE_QUOTA = 0.2
"""CPU quota of the knee searches' servers: at 0.2 of a core the knees fall where the load generator, on
the other core, reaches them (whole-core figures are scaled from it, labelled so)."""


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
    workload: Workload = field(default_factory=lambda: load_workload(DEFAULT_WORKLOAD))
    """The planning workload: what the plan, the claims and the recommendation are for (seed-chat)."""
    server_cpu_quota: float = KNEE_QUOTA
    """Share of one core the knee searches' servers may use once seeded. The agreement runs and the
    calibration stay on a whole core (the simulator divides by the quota itself)."""
    knee_strategies: tuple[Strategy, ...] = ()
    """Strategies whose knee is searched, measured and simulated, for the planning workload (none: skip)."""
    knee_settings: KneeSettings | None = None
    """How each measured probe runs (None: the defaults)."""

    @property
    def calibration_path(self) -> Path:
        return self.out / "calibration.json"

    @property
    def plan_dir(self) -> Path:
        """Results directory of the planning workload's simulation."""
        return self.out / "plan"

    def knees_dir(self, source: str) -> Path:
        """Where a knee search of `source` (measured or sim) writes its capacity.json."""
        return self.out / "knees" / source

    def _step(self, name: str, text: str) -> None:
        self.console.print(f"[bold]{_STEPS.index(name) + 1}/{len(_STEPS)} {name}[/bold]: {text}")

    # --- the steps -----------------------------------------------------------------------------------

    def run(self, strategies: tuple[Strategy, ...]) -> ReportFiles:
        """Calibrate, measure and simulate the agreement load, simulate the planning workload, report.

        A knee search (writing :meth:`knees_dir`) belongs between :meth:`_plan` and :meth:`_report`: the
        report uses whatever knees are there. CommandError when a part cannot run.
        """
        noop_s = self._calibrate_and_measure(strategies)
        measured = self.out / "measured"
        write_summary(measured, tag_summary(read_summary(measured), AGREEMENT_WORKLOAD))
        self._simulate()
        self._plan()
        self._knees()
        for results in (self.out / "measured", self.out / "sim", self.plan_dir):
            self._stamp_machine(results, noop_s)
        return self._report()

    def _calibrate_and_measure(self, strategies: tuple[Strategy, ...]) -> float | None:
        if self.calibration_file is not None:
            if self.calibration_file != self.calibration_path:
                shutil.copyfile(self.calibration_file, self.calibration_path)
            self._step("calibration", f"using {self.calibration_file}")
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
        self._step("calibration", "measuring alongside the load tests (--quick)")
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
                self._step("calibration", "server cost per request kind, this machine")
                with Progress(console=self.console, transient=True) as bar:
                    task = bar.add_task("starting", total=1.0)

                    def progress(what: str, done: float) -> None:
                        bar.update(task, description=what, completed=done)

                    result = calibrate(self.host, fixtures=self.fixtures, quick=self.quick, progress=progress)
            else:
                result = calibrate(self.host, fixtures=self.fixtures, quick=self.quick)
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

        self._step(
            "measured",
            f"the agreement load, {len(strategies)} strategies x {self.profile_users} receivers, "
            f"{self.duration_s:g} s of messages, {self.parallel} at a time",
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
        self._step(
            "simulated",
            f"the agreement load for {self.sim_duration_s:g} simulated s (steady state), loopback network, "
            "this calibration",
        )
        with Progress(console=self.console, transient=True) as bar:
            tasks = {spec: bar.add_task(spec, total=1.0) for spec in scenario.strategies}

            def progress(spec: str, fraction: float) -> None:
                bar.update(tasks[spec], completed=fraction)

            result = simulate(scenario, calibration=calibration, progress=progress, workers=1)
        write_summary(self.out / "sim", tag_summary(result.summary, AGREEMENT_WORKLOAD))
        write_deliveries(self.out / "sim", result.deliveries_columns())

    def _plan(self) -> None:
        """Simulate the planning workload with this calibration, on enough processes for headroom."""
        from sim.calibration import CalibrationError, load_calibration

        scenario = self.workload.scenario.override(
            calibration=str(self.calibration_path),
            strategies=self.scenario.strategies,
            seed=self.scenario.seed,
        )
        try:
            calibration = load_calibration(self.calibration_path)
        except CalibrationError as exc:
            raise CommandError(str(exc)) from None
        self._step(
            "planning workload",
            f"{self.workload.name}: {scenario.clients:,} customers x {scenario.orders_per_client} orders, "
            f"{scenario.duration:g} simulated s, this calibration",
        )
        summary, deliveries = _simulate_quietly(scenario, calibration)
        processes = _processes_for_headroom(summary, scenario.server_processes)
        if processes > scenario.server_processes:
            self.console.print(
                f"planning workload: {_busiest(summary)} keeps {scenario.server_processes} process(es) over "
                f"{PLAN_HEADROOM:.0%} busy; simulated on {processes}, so every process has headroom"
            )
            summary, deliveries = _simulate_quietly(
                scenario.override(server_processes=processes), calibration
            )
        write_summary(self.plan_dir, tag_summary(summary, self.workload.name))
        write_deliveries(self.plan_dir, deliveries)

    def _knees(self) -> None:
        """Measured knees of the planning workload under the quota, each probe simulated beside it, and the
        simulated knees at the quota and on a whole core."""
        if not self.knee_strategies:
            self._step("knees", "none searched (--knees none)")
            return
        from dataclasses import replace as with_changes

        from loadtests.capacity import KneeSearchConfig, measure_knees, simulated_twin
        from loadtests.knee import KneeSettings, ProbeError
        from pollbench.capacity import CapacityReport, Slo, write_capacity
        from pollbench.results import machine_info
        from pollbench.targets import LOOPBACK_RTT_MS
        from sim.calibration import load_calibration
        from sim.capacity import simulated_knee

        calibration = load_calibration(self.calibration_path)
        scenario = self.workload.scenario.override(
            server_cpu_quota=self.server_cpu_quota,
            rtt_ms=LOOPBACK_RTT_MS,
            rtt_sigma=0.0,
            calibration=str(self.calibration_path),
            seed=self.scenario.seed,
            strategies=tuple(k.spec for k in self.knee_strategies),
        )
        slo = Slo()
        config = KneeSearchConfig(
            scenario=scenario,
            workload=self.workload.name,
            slo=slo,
            out=self.knees_dir("measured"),
            settings=self.knee_settings or KneeSettings(),
            seed=self.scenario.seed,
        )
        twin = simulated_twin(config, self.knee_strategies, calibration)
        ceiling = max(KNEE_MIN_CEILING, int(max(twin.predicted.values()) * KNEE_CEILING_FACTOR))
        config = with_changes(config, max_clients=ceiling)
        specs = ", ".join(f"{s} (simulated {twin.predicted[s]:,})" for s in twin.predicted)
        self._step("knees", f"{self.workload.name} at {self.server_cpu_quota:g} of a core: {specs}")
        try:
            measure_knees(
                config,
                self.knee_strategies,
                predict=twin.predict,
                predicted=twin.predicted,
                connection_limit=twin.connection_limit,
                progress=lambda line: self.console.print(line, markup=False, highlight=False),
            )
        except ProbeError as exc:
            raise CommandError(f"knee search: {exc}") from None
        base = scenario.override(duration=SIM_KNEE_S)
        knees = [
            simulated_knee(strategy, with_changes(base, server_cpu_quota=quota), slo, calibration)
            for strategy in self.knee_strategies
            for quota in (self.server_cpu_quota, None)
        ]
        write_capacity(
            self.knees_dir("sim"),
            CapacityReport(
                source="sim",
                workload=self.workload.name,
                scenario=base.to_dict(),
                slo=slo,
                knees=tuple(knees),
                machine=machine_info(),
            ),
        )

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

    def _knee_dirs(self) -> list[Path]:
        return [
            d for d in (self.knees_dir("measured"), self.knees_dir("sim")) if (d / "capacity.json").is_file()
        ]

    def _report(self) -> ReportFiles:
        from reports.build import build_report
        from reports.findings import RecommendConfig
        from reports.planning import PlanConfig

        knees = self._knee_dirs()
        self._step(
            "report",
            f"capacity plan for {self.workload.name} ("
            + (f"knees: {', '.join(d.name for d in knees)}" if knees else "no knee search ran")
            + "), sim vs measured on the agreement load",
        )
        config = RecommendConfig(plan=PlanConfig(workload=self.workload.name))
        files = build_report(
            [self.out / "sim", self.out / "measured", self.plan_dir, *knees], self.out, config
        )
        self._write_summary(files, knees)
        return files

    def _write_summary(self, files: ReportFiles, knees: list[Path]) -> None:
        contents = files.contents
        data = {
            "kind": COMPARE_KIND,
            "sources": {"sim": "sim", "measured": "measured", "plan": "plan"},
            "server_cpu_quota": self.server_cpu_quota,
            "workload": {
                "name": self.workload.name,
                "path": str(self.workload.path),
                "agreement": AGREEMENT_WORKLOAD,
            },
            "knees": {d.name: str(d.relative_to(self.out)) for d in knees},
            "calibration": _json(self.calibration_path),
            "sim": asdict(read_summary(self.out / "sim")),
            "measured": asdict(read_summary(self.out / "measured")),
            "plan": asdict(read_summary(self.plan_dir)),
            "agreement": contents.agreement.to_dict("records"),
            "capacity_plan": contents.plan.to_dict("records"),
            "recommendation": {
                "title": contents.recommendation.title,
                "verdict": contents.recommendation.verdict,
                "text": contents.recommendation.text,
            },
            "claims": [{"title": c.title, "verdict": c.verdict, "text": c.text} for c in contents.claims],
        }
        text = json.dumps(to_jsonable(data), indent=2) + "\n"
        (self.out / "summary.json").write_text(text, encoding="utf-8")

    # --- what the terminal shows ---------------------------------------------------------------------

    def terminal_table(self, files: ReportFiles) -> Table:
        """Per strategy: each compared figure as sim / measured (ratio), and a verdict over all of them."""
        from rich.table import Table

        frame = files.contents.agreement
        knees = frame[frame["metric"] == "knee_clients"]
        table = Table(title=f"pollbench compare: simulated / measured (ratio), {AGREEMENT_WORKLOAD}"
                      + (f"; knees of {self.workload.name}" if not knees.empty else ""))  # fmt: skip
        table.add_column("strategy")
        columns = {**_RUN_COLUMNS, **({"knee_clients": "knee"} if not knees.empty else {})}
        for label in columns.values():
            table.add_column(label, justify="right")
        table.add_column("verdict")
        for strategy in dict.fromkeys(frame["strategy"].tolist()) if not frame.empty else ():
            mine = frame[frame["strategy"] == strategy]
            firsts = mine.drop_duplicates("metric").set_index("metric")
            cells = [_pair(firsts.loc[m]) if m in firsts.index else "-" for m in columns]
            bad = list(
                dict.fromkeys(_short_metric(r) for r in mine.to_dict("records") if r["agrees"] is False)
            )
            table.add_row(strategy, *cells, "[red]differs: " + ", ".join(bad) + "[/red]" if bad else "agrees")
        return table

    def closing_lines(self, files: ReportFiles) -> list[str]:
        from reports.contents import knee_status

        contents = files.contents
        compared = contents.agreement[contents.agreement["agrees"].map(lambda a: a is not None)]
        differ = int(sum(a is False for a in compared["agrees"]))
        if compared.empty:
            lines = ["sim vs measured: nothing could be compared"]
        elif differ:
            lines = [f"sim vs measured: [red]{differ} of {len(compared)} compared figures differ[/red]"]
        else:
            lines = [f"sim vs measured: all {len(compared)} compared figures agree, utilization included"]
        lines.append(knee_status(contents))
        rec = contents.recommendation
        lines.append(f"[bold]{rec.title}[/bold]: {rec.text}")
        lines += [f"seed claim {c.title}: [bold]{c.verdict}[/bold]" for c in contents.claims]
        return lines


_RUN_COLUMNS = {
    "latency_s.p50": "p50 s",
    "latency_s.p95": "p95 s",
    "requests_per_s": "req/s",
    "bytes_per_poll": "B/poll",
    "server_utilization": "util",
}
"""Run figures of the terminal table, and their headings."""


def _short_metric(row: Any) -> str:
    if row["metric"] in _RUN_COLUMNS:
        return _RUN_COLUMNS[row["metric"]]
    if row["metric"] == "knee_clients":
        return "knee"
    return f"util at {int(row['clients']):,} clients"


def _simulate_quietly(scenario: Scenario, calibration: Calibration) -> tuple[Summary, dict[str, Any]]:
    from sim.run import simulate

    result = simulate(scenario, calibration=calibration, workers=1)
    return result.summary, result.deliveries_columns()


def _offered(summary: Summary) -> dict[str, float]:
    """Offered load of one process per strategy (the busy fraction it would need, above 1 when overloaded)."""
    out: dict[str, float] = {}
    for spec, r in summary.strategies.items():
        value = r.extra.get("offered_load", r.server_utilization)
        out[spec] = float(value) if isinstance(value, int | float) else float("nan")
    return out


def _busiest(summary: Summary) -> str:
    offered = {k: v for k, v in _offered(summary).items() if v == v}
    return max(offered, key=lambda k: offered[k]) if offered else "-"


def _processes_for_headroom(summary: Summary, processes: int) -> int:
    """Processes that keep every strategy's busiest process under PLAN_HEADROOM (load spreads evenly)."""
    import math

    loads = [v for v in _offered(summary).values() if v == v]
    need = max((math.ceil(processes * v / PLAN_HEADROOM) for v in loads), default=processes)
    clients = int(summary.scenario.get("clients", processes) or processes)
    return max(processes, min(need, clients))


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
