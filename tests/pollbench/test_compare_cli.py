"""pollbench compare: a real, small end-to-end run (Locust against real servers, the simulator, the report),
and its input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pollbench.cli import main


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    calibration = out.parent / "cal.json"
    calibration.write_text('{"meta": {"noop_us": 40.0}}')  # defaults for the constants: keeps CI short
    argv = [
        "compare", "--quick", "--strategies", "poll:3,seed-dashboard:3,sse", "--users", "10",
        "--duration", "4s", "--message-interval", "1s", "--calibration", str(calibration), "--out", str(out),
        "--knees", "none",
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_compare_writes_both_sources_the_plan_the_report_and_a_combined_summary(compared: Path) -> None:
    for name in ("report.html", "report.md", "calibration.json", "sim/summary.json", "measured/summary.json",
                 "plan/summary.json"):  # fmt: skip
        assert (compared / name).is_file(), name
    assert any((compared / "charts").glob("*.png"))
    combined = json.loads((compared / "summary.json").read_text())
    assert combined["kind"] == "pollbench-compare"
    assert combined["sim"]["source"] == "sim" and combined["measured"]["source"] == "measured"
    assert {row["strategy"] for row in combined["agreement"]} == {"poll:3", "seed-dashboard:3", "sse"}
    assert {row["metric"] for row in combined["agreement"]} >= {"server_utilization", "latency_s.p95"}


def test_the_plan_is_the_seed_chat_workload_and_the_agreement_runs_say_they_are_not(compared: Path) -> None:
    combined = json.loads((compared / "summary.json").read_text())
    assert combined["workload"]["name"] == "seed-chat"
    plan = combined["plan"]
    assert plan["source"] == "sim" and plan["scenario"]["workload"] == "seed-chat"
    assert plan["scenario"]["arrivals"] == "bursty" and plan["scenario"]["clients"] == 10_000
    assert plan["scenario"]["calibration"].endswith("calibration.json")
    assert (
        combined["sim"]["scenario"]["workload"]
        == combined["measured"]["scenario"]["workload"]
        == "agreement load"
    )
    assert {row["workload"] for row in combined["capacity_plan"]} == {"seed-chat"}
    assert combined["recommendation"]["title"].startswith("Recommendation for 100,000 users of seed-chat")


def test_without_a_knee_search_the_report_says_so(compared: Path) -> None:
    md = (compared / "report.md").read_text()
    assert "No knee under seed-chat: no knee measured: run compare with --knees" in md
    assert json.loads((compared / "summary.json").read_text())["knees"] == {}


def test_both_sides_ran_the_same_scenario_and_carry_the_machine_yardstick(compared: Path) -> None:
    combined = json.loads((compared / "summary.json").read_text())
    sim, measured = combined["sim"], combined["measured"]
    for key in ("clients", "orders_per_client", "message_interval", "audience"):
        assert sim["scenario"][key] == measured["scenario"][key], key
    assert sim["scenario"]["duration"] >= measured["scenario"]["duration"]
    assert sim["machine"]["calibration_s"] == measured["machine"]["calibration_s"] == pytest.approx(40e-6)
    assert measured["strategies"]["poll:3"]["messages"]["delivered"] > 0


def test_report_rebuilds_from_the_comparison_directory(compared: Path, tmp_path: Path) -> None:
    assert main(["report", str(compared), "--out", str(tmp_path)]) == 0
    assert "poll:3" in (tmp_path / "report.md").read_text()


def test_the_workload_flag_defaults_to_seed_chat_and_takes_a_preset_or_a_file(tmp_path: Path) -> None:
    from pollbench.cli import build_parser
    from pollbench.commands.compare import planning_workload

    parser = build_parser()
    assert planning_workload(parser.parse_args(["compare"])).name == "seed-chat"
    f = tmp_path / "my-chat.toml"
    f.write_text('clients = 300\narrivals = "bursty"\n')
    workload = planning_workload(parser.parse_args(["compare", "--workload", str(f)]))
    assert workload.name == str(f) and workload.scenario.clients == 300


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workload", "seed-caht"], "unknown workload 'seed-caht': presets are"),
        (["--workload", "/nonexistent/w.toml"], "no such file"),
    ],
)
def test_a_bad_workload_is_refused_before_any_load(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--users", "0"], "--users must be at least 1"),
        (["--duration", "soon"], "--duration"),
        (["--strategies", "carrier-pigeon"], "carrier-pigeon"),
        (["--host", "http://10.0.0.7:8080", "--fixtures", "f.json"], "refusing to load 10.0.0.7"),
        (["--host", "http://127.0.0.1:8080"], "--host needs --fixtures"),
        (["--calibration", "/nonexistent/cal.json"], "no such file"),
        (["--server-cpu-quota", "abc"], "--server-cpu-quota must be a share of one core, 0 < Q <= 1"),
        (["--server-cpu-quota", "0"], "0 < Q <= 1 (e.g. 0.2), got 0.0"),
        (
            ["--host", "http://127.0.0.1:9", "--fixtures", __file__, "--server-cpu-quota", "0.2"],
            "--server-cpu-quota applies only to servers pollbench starts itself",
        ),
    ],
)
def test_bad_input_is_refused_before_any_load(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_simulated_conversations_are_the_ones_the_load_test_ran(compared: Path) -> None:
    """4 s of sending, a message per order every 1 s, a window from the warm-up (2 s here) to the end:
    a full GET in the window carries (2 + 4) / 2 / 1 = 3 messages more than the seeded conversation."""
    combined = json.loads((compared / "summary.json").read_text())
    assert combined["sim"]["scenario"]["conversation_messages"] == pytest.approx(3.0)
