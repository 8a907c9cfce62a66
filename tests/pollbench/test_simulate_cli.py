"""`pollbench simulate` and `pollbench capacity` run in-process through pollbench.cli.main."""

import json
import subprocess
import sys

from pollbench.cli import main
from pollbench.results import read_deliveries, read_summary

SMALL = ["--clients", "30", "--duration", "5m", "--strategies", "poll:5,sse"]


def test_json_summary_on_stdout(capsys):
    assert main(["simulate", *SMALL, "--json", "--seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "sim" and data["seed"] == 3
    assert set(data["strategies"]) == {"poll:5", "sse"}
    assert data["scenario"]["duration"] == 300.0


def test_out_writes_readable_results(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["simulate", *SMALL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "poll:5" in text and "summary.json" in text
    summary = read_summary(out)
    assert summary.source == "sim"
    assert summary.strategies["sse"].open_connections > 0
    deliveries = read_deliveries(out)
    assert len(deliveries) == sum(s.messages.delivered for s in summary.strategies.values())


def test_flags_override_scenario_file(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('clients = 500\nduration = "1h"\nstrategies = ["ws"]\n')
    assert main(["simulate", "--scenario", str(f), "--clients", "20", "--duration", "120", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"]["clients"] == 20 and list(data["strategies"]) == ["ws"]


def test_bad_inputs_exit_2_with_a_message(tmp_path, capsys):
    assert main(["simulate", "--clients", "0", "--json"]) == 2
    assert "clients" in capsys.readouterr().err
    assert main(["simulate", "--strategies", "poll:x", "--json"]) == 2
    assert "poll:x" in capsys.readouterr().err
    assert main(["simulate", "--calibration", str(tmp_path / "missing.json"), "--json"]) == 2
    assert "calibration file not found" in capsys.readouterr().err
    assert main(["simulate", "--scenario", str(tmp_path / "nope.toml")]) == 2


def test_capacity_json_is_the_schema_2_report_and_out_writes_it(tmp_path, capsys):
    """SSE holds one 48 KiB stream per client: a 120 MiB RSS bound over the idle server's 96 MiB leaves
    room for 512 connections."""
    from pollbench.capacity import read_capacity, servers_needed

    args = [
        "capacity",
        "--strategies",
        "sse",
        "--slo-memory-mb",
        "120",
        "--duration",
        "60",
        "--users",
        "10000",
    ]
    assert main([*args, "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["capacity_schema"] == 2 and data["source"] == "sim"
    knee = data["knees"][0]
    assert knee["strategy"] == "sse" and 500 <= knee["max_clients"] <= 512
    assert knee["limited_by"] == ["memory"]
    assert all(set(step) >= {"clients", "p99_s", "rss_bytes", "ok"} for step in knee["steps"])
    written = read_capacity(tmp_path)
    assert written.knees[0].max_clients == knee["max_clients"]
    assert servers_needed(10_000, knee["max_clients"]) == -(-10_000 // knee["max_clients"])


def test_capacity_table_names_the_limit_and_the_processes(capsys):
    args = [
        "capacity",
        "--strategies",
        "sse",
        "--slo-connections",
        "300",
        "--duration",
        "60",
        "--users",
        "3000",
    ]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    knee = json.loads(capsys.readouterr().out)["knees"][0]
    assert 294 <= knee["max_clients"] < 300 and knee["limited_by"] == ["connections"]  # within 2 % below
    assert "sse" in table and "connections" in table and str(knee["max_clients"]) in table
    assert str(-(-3000 // knee["max_clients"])) in table


def test_capacity_measure_mode_hands_over_to_the_load_tests(capsys):
    """--mode measure is served by loadtests.capacity, whose input checks run before any load starts."""
    args = ["capacity", "--mode", "measure", "--strategies", "sse", "--tolerance", "2"]
    assert main(args) == 2
    assert "--tolerance must be between 0 and 1" in capsys.readouterr().err


def test_subprocess_smoke():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pollbench",
            "simulate",
            "--clients",
            "10",
            "--duration",
            "60",
            "--strategies",
            "ws",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ws" in proc.stdout


def test_restart_downtime_adds_a_storm_per_strategy_to_the_summary_and_a_table(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["simulate", *SMALL, "--restart-downtime", "20s", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Reconnect storm" in text and "at the crash" in text and "at their next poll" in text
    storms = {spec: r.reconnect_storm for spec, r in read_summary(out).strategies.items()}
    assert all(s is not None and s.downtime_s == 20.0 and s.back_50_s >= 20.0 for s in storms.values())


def test_without_restart_downtime_the_storm_is_null_in_the_json(capsys):
    assert main(["simulate", *SMALL, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(s["reconnect_storm"] is None for s in data["strategies"].values())


def test_a_bad_restart_downtime_is_one_line_and_exit_2(capsys):
    assert main(["simulate", *SMALL, "--restart-downtime", "soon", "--json"]) == 2
    err = capsys.readouterr().err
    assert "--restart-downtime must be seconds >= 0" in err and "Traceback" not in err


def test_server_cpu_quota_sets_the_scenarios_quota(capsys):
    from pollbench.cli import build_parser
    from pollbench.commands.simulate import scenario_from_args

    args = build_parser().parse_args(["simulate", "--server-cpu-quota", "0.25"])
    assert scenario_from_args(args).server_cpu_quota == 0.25
    for bad in ("0", "1.5", "abc"):
        assert main(["simulate", "--server-cpu-quota", bad, "--json"]) == 2
        assert "--server-cpu-quota must be a share of one core, 0 < Q <= 1" in capsys.readouterr().err
