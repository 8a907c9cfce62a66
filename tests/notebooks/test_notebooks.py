"""The notebooks run top to bottom on small parameters and show their tables, charts and conclusions.

Each notebook is executed by a real Jupyter kernel (nbclient + ipykernel) with its ``parameters`` cell
replaced, on real results: a real simulation and, for the sim-versus-measured notebook, a real short Locust
load test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from pollbench.capacity import Slo, read_capacity, servers_needed
from pollbench.cli import main
from pollbench.results import read_summary
from pollbench.scenario import load_scenario
from pollbench.strategies import parse_strategies
from reports import load_results
from reports.agreement import AGREEMENT_BARS, agreement
from sim.calibration import load_calibration
from sim.capacity import simulated_knee

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
USERS = [1_000, 10_000, 100_000, 1_000_000]
STRATEGIES = ["poll:3", "seed-dashboard:3"]  # both reach their SLO limit below 5 000 clients: a quick search


@pytest.fixture(scope="module", autouse=True)
def this_interpreters_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A ``python3`` kernelspec that starts *this* interpreter, found before any user or system one.

    A kernelspec named python3 under ~/.local/share/jupyter or /usr/share/jupyter may start a system Python
    that lacks pollbench; JUPYTER_PATH is searched first, so the notebooks run where the tests run.
    """
    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(root / "kernels" / "python3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        yield


def _execute(name: str, parameters: str) -> nbformat.NotebookNode:
    """Run notebooks/`name` with its parameters cell replaced, as Jupyter would (cwd = notebooks/)."""
    nb: nbformat.NotebookNode = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    cells[0].source = parameters
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    return nb


def _tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return cell


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(o["data"]["text/markdown"] for o in _outputs(nb) if "text/markdown" in o.get("data", {}))


def _pngs(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _html_table(cell: nbformat.NotebookNode) -> str:
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return str(result["data"]["text/html"])


def _row_labels(html: str) -> list[str]:
    """Index labels of the body rows of a DataFrame rendered as HTML."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>\s*<th>([^<]*)</th>", body)


def _assert_clean(nb: nbformat.NotebookNode) -> None:
    """No cell raised and nothing was written to stderr (warnings would confuse the engineer reading it)."""
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [o["text"] for o in outputs if o.output_type == "stream" and o["name"] == "stderr"]
    assert not stderr, stderr


def test_kernel_is_the_interpreter_running_the_tests(tmp_path: Path) -> None:
    """The kernel imports pollbench from this checkout, with this interpreter (not a system Python)."""
    source = "import sys, pollbench\nprint(sys.executable)\nprint(pollbench.__file__)"
    cell = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
    nb = nbformat.v4.new_notebook(cells=[cell])  # type: ignore[no-untyped-call]
    NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    executable, module = nb.cells[0].outputs[0]["text"].split()
    assert executable == sys.executable
    assert Path(module).resolve().is_relative_to(NOTEBOOKS.parent)


CALIBRATION = {"service_ms": {"orders_304": 0.5}}
"""A calibration file differing from the defaults: the notebook must plan with it, not with the built-ins."""


def _capacity_parameters(out: Path, strategies: str = ",".join(STRATEGIES)) -> str:
    calibration = out / "calibration.json"
    calibration.write_text(json.dumps(CALIBRATION), encoding="utf-8")
    return f"""
SCENARIO_FILE = None
CLIENTS = 200
STRATEGIES = {strategies!r}
DURATION = "2m"
MESSAGE_INTERVAL = "60s"
SEED = 1
CALIBRATION = {str(calibration)!r}
SLO_P99_S = 15.0
SLO_UTILIZATION = 0.7
USERS = {USERS!r}
OUT_DIR = {str(out)!r}
"""


@pytest.fixture(scope="module")
def capacity_notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    out = tmp_path_factory.mktemp("capacity_planning")
    return _execute("capacity_planning.ipynb", _capacity_parameters(out)), out


def _parameter_error(name: str, parameters: str) -> str:
    """The error a notebook stops with, checked to be one sentence about the parameters, no library frames."""
    with pytest.raises(CellExecutionError) as raised:
        _execute(name, parameters)
    assert raised.value.ename == "ValueError"
    assert raised.value.evalue.startswith("check the parameters cell: ")
    assert ".py" not in raised.value.traceback  # only the notebook's own cell, not pollbench's modules
    return str(raised.value.evalue)


def test_capacity_planning_runs_without_errors_or_warnings(
    capacity_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    _assert_clean(capacity_notebook[0])


def test_capacity_planning_shows_one_servers_row_per_strategy(
    capacity_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    html = _html_table(_tagged(capacity_notebook[0], "servers-table"))
    assert _row_labels(html) == STRATEGIES
    for users in USERS:
        assert f"servers for {users:,} users" in html


def test_capacity_planning_servers_match_the_capacity_search(
    capacity_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    """The table (via the knees in capacity.json and reports.capacity_plan) says what sim.capacity's search
    says, and the knees are recorded for the notebook's workload."""
    out = capacity_notebook[1]
    table = pd.read_csv(out / "servers_needed.csv", index_col="strategy")
    base = load_scenario(None, clients=200, strategies=STRATEGIES, duration="2m", message_interval="60s")
    calibration = load_calibration(out / "calibration.json")
    assert calibration != load_calibration(None)
    slo = Slo(p99_s=15.0, utilization=0.7, memory_bytes=calibration.memory_budget_bytes)
    for strategy in parse_strategies(base.strategies):
        found = simulated_knee(strategy, base.override(admins=0), slo, calibration)
        assert found.max_clients > 0
        assert table.loc[strategy.spec, "max clients per process"] == found.max_clients
        for users in USERS:
            expected = servers_needed(users, found.max_clients)
            assert table.loc[strategy.spec, f"servers for {users:,} users"] == expected
    knees = read_capacity(out / "sim")
    assert knees.workload == "notebook scenario" and {k.strategy for k in knees.knees} == set(STRATEGIES)


def test_capacity_planning_stops_on_a_bad_knob_with_a_sentence(tmp_path: Path) -> None:
    message = _parameter_error("capacity_planning.ipynb", _capacity_parameters(tmp_path, "poll:3,poll:fast"))
    assert "strategies" in message and "poll:fast" in message


def test_capacity_planning_draws_the_charts_and_concludes(
    capacity_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    nb, out = capacity_notebook
    assert _pngs(nb) >= 4
    assert "Capacity curve" in _markdown(nb)
    assert (out / "charts" / "capacity_curves.png").is_file()
    conclusion = _tagged(nb, "conclusion").outputs[0]["data"]["text/markdown"]
    assert "For 1,000,000 users with p99 delivery latency within 15 s" in conclusion
    assert all(spec in conclusion for spec in STRATEGIES)


@pytest.fixture(scope="module", autouse=True)
def load_test(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real 4-second Locust run of poll:3 with 10 users, started before the first test.

    It runs while the capacity notebook executes (the load test mostly waits on Locust's clock, not on the
    CPU), which keeps this file well under a minute; no test asserts on its timings.
    """
    root = tmp_path_factory.mktemp("results")
    measured, log = root / "measured", root / "loadtest.log"
    cmd = [
        sys.executable, "-m", "pollbench", "loadtest", "--strategies", "poll:3", "--users", "10",
        "--duration", "4s", "--message-interval", "2s", "--out", str(measured),
    ]  # fmt: skip
    with log.open("wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield proc, measured
    finally:
        if proc.poll() is None:  # a test failed before waiting for it
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def measured_and_simulated(
    load_test: tuple[subprocess.Popen[bytes], Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The finished load test's results, and a simulation of the same scenario."""
    proc, measured = load_test
    assert proc.wait(timeout=90) == 0, (measured.parent / "loadtest.log").read_text()[-2000:]
    simulated = tmp_path_factory.mktemp("results") / "sim"
    argv = ["simulate", "--strategies", "poll:3", "--clients", "10", "--message-interval", "2s"]
    assert main([*argv, "--duration", "10m", "--out", str(simulated)]) == 0
    return simulated, measured


def _sim_vs_measured(
    dirs: list[Path], out: Path, *, simulate_measured: bool = False
) -> nbformat.NotebookNode:
    parameters = f"""
RESULTS_DIRS = {[str(d) for d in dirs]!r}
SIMULATE_MEASURED = {simulate_measured!r}
MIN_SIMULATED = "2m"
OUT_DIR = {str(out)!r}
"""
    return _execute("sim_vs_measured.ipynb", parameters)


@pytest.fixture(scope="module")
def paired_notebook(
    measured_and_simulated: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[nbformat.NotebookNode, Path]:
    out = tmp_path_factory.mktemp("sim_vs_measured")
    return _sim_vs_measured(list(measured_and_simulated), out), out


def test_sim_vs_measured_runs_without_errors_or_warnings(
    paired_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    _assert_clean(paired_notebook[0])


def test_sim_vs_measured_puts_the_pair_side_by_side(
    paired_notebook: tuple[nbformat.NotebookNode, Path],
) -> None:
    html = _html_table(_tagged(paired_notebook[0], "side-by-side"))
    assert _row_labels(html) == ["poll:3"]
    for metric in AGREEMENT_BARS:  # p50, p95, requests/s, bytes per poll, server utilization
        assert metric in html


def test_sim_vs_measured_shows_the_latency_cdf(paired_notebook: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, out = paired_notebook
    assert _pngs(nb) == 2  # the latency CDF and the sim-versus-measured bars
    for name in ("latency_cdf", "sim_vs_measured"):
        assert (out / "charts" / f"{name}.png").is_file()


def test_sim_vs_measured_text_counts_the_agreeing_figures(
    paired_notebook: tuple[nbformat.NotebookNode, Path], measured_and_simulated: tuple[Path, Path]
) -> None:
    table = agreement(load_results(list(measured_and_simulated)))
    agreeing = sum(a is True for a in table["agrees"])
    compared = sum(a is not None for a in table["agrees"])
    assert compared == 5  # p50, p95, requests/s, bytes per poll and server utilization of poll:3
    verdict = _tagged(paired_notebook[0], "verdict").outputs[0]["data"]["text/markdown"]
    assert f"{agreeing} of {compared} compared figures agree within their bars." in verdict
    for metric, agrees in zip(table["metric"], table["agrees"], strict=True):
        assert (f"simulated {metric} is" in verdict) == (agrees is False)


def test_sim_vs_measured_can_simulate_the_measured_scenario(
    measured_and_simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    """SIMULATE_MEASURED: the notebook simulates the scenario the load test recorded and compares with it."""
    measured = measured_and_simulated[1]
    nb = _sim_vs_measured([measured], tmp_path, simulate_measured=True)
    _assert_clean(nb)
    twin = read_summary(tmp_path / "simulated" / "measured")
    recorded = read_summary(measured).scenario
    assert {k: twin.scenario[k] for k in ("clients", "audience", "message_interval", "seed")} == {
        k: recorded[k] for k in ("clients", "audience", "message_interval", "seed")
    }
    assert twin.scenario["duration"] == 120.0  # MIN_SIMULATED: a 4 s measurement, a 2 min simulation
    assert _row_labels(_html_table(_tagged(nb, "side-by-side"))) == ["poll:3"]
    assert "compared figures agree within their bars." in _markdown(nb)


def test_sim_vs_measured_stops_on_a_missing_directory_with_a_sentence(tmp_path: Path) -> None:
    message = _parameter_error(
        "sim_vs_measured.ipynb",
        f"""
RESULTS_DIRS = [{str(tmp_path / "nowhere")!r}]
SIMULATE_MEASURED = False
MIN_SIMULATED = "2m"
OUT_DIR = {str(tmp_path)!r}
""",
    )
    assert "nowhere: no such directory" in message
