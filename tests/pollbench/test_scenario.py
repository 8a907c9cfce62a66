"""pollbench.scenario: one strict scenario description, from TOML and flags."""

import pytest

from pollbench.scenario import Scenario, ScenarioError, load_scenario, parse_duration
from pollbench.strategies import ALL_SPECS


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("250ms", 0.25),
        (" 1.5h ", 5400.0),
        (20, 20.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration_accepts_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1d", "-5s", "0", 0, True, "1h30"])
def test_parse_duration_rejects_nonsense(bad):
    with pytest.raises(ScenarioError, match="duration"):
        parse_duration(bad)


def test_defaults_are_valid_and_run_every_strategy():
    s = Scenario()
    assert s.strategies == ALL_SPECS
    assert s.orders == s.clients * s.orders_per_client


def test_toml_file_is_read_and_flags_override_it(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('clients = 50\nduration = "2m"\narrivals = "bursty"\nstrategies = ["poll:5", "sse:15"]\n')
    s = load_scenario(f, clients=10, rtt_ms=None)
    assert s.clients == 10  # the flag wins
    assert s.duration == 120.0
    assert s.arrivals == "bursty"
    assert s.strategies == ("poll:5", "sse")  # canonical specs
    assert s.rtt_ms == Scenario().rtt_ms  # None means "flag not given"


def test_unknown_keys_are_named_with_the_valid_ones(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("clients = 5\nclinets = 6\n")
    with pytest.raises(ScenarioError, match=r"unknown key\(s\) clinets; valid keys: .*clients"):
        load_scenario(f)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"clients": 0}, "clients must be a whole number > 0"),
        ({"clients": 2.5}, "clients must be a whole number > 0"),
        ({"arrivals": "gaussian"}, "arrivals must be one of poisson, periodic, bursty"),
        ({"hidden_fraction": 1.5}, "hidden_fraction must be between 0 and 1"),
        ({"message_interval": "soon"}, "duration must be"),
        ({"strategies": ["poll:0"]}, "strategies:"),
        ({"admins": -1}, "admins must be"),
        ({"service_time_ms": -1.0}, "service_time_ms must be a positive number"),
    ],
)
def test_bad_values_raise_scenario_error(changes, fragment):
    with pytest.raises(ScenarioError) as info:
        Scenario().override(**changes)
    assert fragment in str(info.value)


def test_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("clients = = 3")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_to_dict_round_trips():
    s = Scenario(clients=7, strategies=("sse", "poll:3"))
    assert Scenario.from_mapping(s.to_dict()) == s


def test_integer_values_for_float_fields_are_accepted():
    assert Scenario.from_mapping({"rtt_ms": 40}).rtt_ms == 40.0


def test_bursty_parameters_are_validated():
    """The simulator's bursty arrivals read burst_messages (>= 1) and burst_gap (> 0) from the scenario."""
    assert Scenario(burst_messages=8, burst_gap=5.0).burst_messages == 8
    with pytest.raises(ScenarioError, match="burst_messages"):
        Scenario().override(burst_messages=0.5)
    with pytest.raises(ScenarioError, match="burst_gap"):
        Scenario().override(burst_gap=0)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_conversation_messages_must_be_a_finite_count(value: float) -> None:
    with pytest.raises(ScenarioError, match="conversation_messages"):
        Scenario(conversation_messages=value)


def test_audience_must_be_known() -> None:
    with pytest.raises(ScenarioError, match="audience must be one of other-party, order"):
        Scenario(audience="everyone")  # type: ignore[arg-type]
