"""pollbench.workload: presets shipped as package data, scenario files, and clear errors for anything else."""

import json

import pytest

from pollbench.cli import main
from pollbench.results import read_summary
from pollbench.workload import (
    DEFAULT_WORKLOAD,
    WorkloadError,
    describe_presets,
    load_workload,
    preset_names,
    workload_of,
)


def test_seed_chat_is_the_seeds_order_chat_in_bursts():
    w = load_workload("seed-chat")
    s = w.scenario
    assert w.name == "seed-chat" == DEFAULT_WORKLOAD and w.path.name == "seed-chat.toml"
    assert (s.clients, s.orders_per_client, s.admins) == (10_000, 2, 2)
    assert (s.arrivals, s.burst_messages, s.burst_gap, s.message_interval) == ("bursty", 4.0, 90.0, 3600.0)
    assert (s.message_bytes, s.rtt_ms, s.rtt_sigma, s.duration) == (200, 80.0, 0.5, 3600.0)


def test_every_preset_is_a_valid_scenario_with_a_description():
    assert "seed-chat" in preset_names()
    for name, text in describe_presets().items():
        assert load_workload(name).scenario is not None
        assert text and not text.startswith("#")


def test_flags_override_a_preset():
    assert load_workload("seed-chat", clients=500).scenario.clients == 500


def test_a_scenario_file_is_a_workload_named_as_given(tmp_path):
    f = tmp_path / "my-chat.toml"
    f.write_text("clients = 50\n")
    w = load_workload(str(f))
    assert w.name == str(f) and w.scenario.clients == 50


def test_an_unknown_name_lists_the_presets():
    with pytest.raises(WorkloadError, match=r"unknown workload 'seed-caht': presets are .*seed-chat"):
        load_workload("seed-caht")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(WorkloadError, match=r"nope\.toml: no such file; presets are"):
        load_workload(str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("content", "message"),
    [("clients = [", "not valid TOML"), ("clints = 5\n", "unknown key"), ("clients = 0\n", "clients must")],
)
def test_a_bad_file_says_why(tmp_path, content, message):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(WorkloadError, match=message):
        load_workload(str(f))


def test_workloads_command_lists_and_shows_presets(capsys):
    assert main(["workloads"]) == 0
    assert "seed-chat" in capsys.readouterr().out
    assert main(["workloads", "seed-chat", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"]["arrivals"] == "bursty"
    assert main(["workloads", "nope"]) == 2
    assert "unknown workload 'nope'" in capsys.readouterr().err


def test_simulate_with_a_workload_records_its_name(tmp_path, capsys):
    out = tmp_path / "plan"
    argv = ["simulate", "--workload", "seed-chat", "--clients", "40", "--duration", "2m"]
    assert main([*argv, "--strategies", "sse", "--out", str(out)]) == 0
    summary = read_summary(out)
    assert workload_of(summary.scenario) == "seed-chat"
    assert summary.scenario["arrivals"] == "bursty" and summary.scenario["clients"] == 40
    assert "seed-chat" in capsys.readouterr().out


def test_workload_and_scenario_together_are_refused(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text("clients = 5\n")
    assert main(["simulate", "--workload", "seed-chat", "--scenario", str(f)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["capacity", "--workload", "nope"]) == 2
    assert "unknown workload" in capsys.readouterr().err
