"""pollbench.strategies: spec strings parse into frozen strategy objects with canonical names."""

import dataclasses

import pytest

from pollbench.strategies import (
    ALL_SPECS,
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    StrategyError,
    WebSocket,
    parse_strategies,
    parse_strategy,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("poll:3", Poll(interval_s=3)),
        ("poll:2.5", Poll(interval_s=2.5)),
        ("seed-dashboard:3", SeedDashboard(interval_s=3)),
        ("seed-dashboard", SeedDashboard()),
        ("adaptive", Adaptive()),
        ("adaptive:min=2,max=20,factor=1.5", Adaptive(min_s=2, max_s=20, factor=1.5)),
        ("longpoll", LongPoll()),
        ("longpoll:20", LongPoll(timeout_s=20)),
        ("sse", ServerSentEvents()),
        ("sse:5", ServerSentEvents(heartbeat_s=5)),
        ("ws", WebSocket()),
        ("websocket:10", WebSocket(ping_s=10)),
        (" POLL:5 ", Poll(interval_s=5)),
    ],
)
def test_parse_strategy_builds_the_expected_object(spec, expected):
    assert parse_strategy(spec) == expected


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("poll:3.0", "poll:3"),
        ("longpoll:30", "longpoll"),
        ("sse:15", "sse"),
        ("ws:30", "ws"),
        ("adaptive:min=3,max=30", "adaptive"),
        ("adaptive:max=60,min=2", "adaptive:min=2,max=60"),
        ("websocket", "ws"),
    ],
)
def test_canonical_spec_omits_defaults_and_round_trips(spec, canonical):
    strategy = parse_strategy(spec)
    assert strategy.spec == canonical
    assert parse_strategy(canonical) == strategy


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("poll", "needs an interval"),
        ("poll:", "nothing after"),
        ("poll:abc", "must be a number"),
        ("poll:0", "positive"),
        ("poll:-3", "positive"),
        ("poll:inf", "positive"),
        ("longpoll:61", "at most 60"),
        ("adaptive:min=5,max=2", "max (2) must be >= min (5)"),
        ("adaptive:factor=0.5", "factor must be >= 1"),
        ("adaptive:speed=2", "unknown adaptive parameter"),
        ("adaptive:min", "unknown adaptive parameter"),
        ("carrier-pigeon", "unknown strategy"),
    ],
)
def test_bad_specs_raise_a_clear_error(spec, fragment):
    with pytest.raises(StrategyError, match=None) as info:
        parse_strategy(spec)
    assert fragment in str(info.value)


def test_all_expands_to_the_eight_documented_strategies():
    assert [s.spec for s in parse_strategies("all")] == list(ALL_SPECS)
    assert len(ALL_SPECS) == 8


def test_lists_keep_order_drop_duplicates_and_rejoin_adaptive_parameters():
    specs = [s.spec for s in parse_strategies("sse,adaptive:min=2,max=20,poll:5,sse:15, ws")]
    assert specs == ["sse", "adaptive:min=2,max=20", "poll:5", "ws"]


def test_an_iterable_of_specs_parses_like_a_comma_list():
    assert parse_strategies(["poll:3", "sse,ws"]) == parse_strategies("poll:3,sse,ws")


def test_an_empty_list_is_an_error():
    with pytest.raises(StrategyError, match="no strategy given"):
        parse_strategies(" , ")


def test_strategies_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Poll(interval_s=3).interval_s = 5  # type: ignore[misc]


def test_transport_and_push_flags():
    by_spec = {s.spec: s for s in parse_strategies("all")}
    assert {k for k, s in by_spec.items() if s.is_push} == {"sse", "ws"}
    assert by_spec["longpoll"].transport == "longpoll"
    assert by_spec["poll:3"].transport == "poll"


def test_seed_dashboard_issues_one_request_per_order_plus_the_list():
    assert SeedDashboard().requests_per_tick(3) == 4


def test_adaptive_interval_grows_on_empty_polls_up_to_max_and_resets_on_news():
    a = Adaptive(min_s=3, max_s=30, factor=2)
    intervals = [3.0]
    for _ in range(6):
        intervals.append(a.next_interval(intervals[-1], got_news=False))
    assert intervals == [3, 6, 12, 24, 30, 30, 30]
    assert a.next_interval(30, got_news=True) == 3


def test_adaptive_hidden_tab_is_throttled_like_a_browser():
    a = Adaptive(min_s=0.5, max_s=30)
    assert a.effective_interval(0.5, hidden_for_s=None) == 0.5
    assert a.effective_interval(0.5, hidden_for_s=10) == 1.0  # at most once per second
    assert a.effective_interval(3, hidden_for_s=10) == 3
    assert a.effective_interval(3, hidden_for_s=301) == 60  # intensive throttling after 5 min


def test_worst_wait_is_a_fact_of_each_strategy():
    """What a message waits for the client on an idle server: the (longest) poll interval, or nothing."""
    waits = {s.spec: s.worst_wait_s for s in parse_strategies("all")}
    assert waits == {"poll:3": 3.0, "poll:5": 5.0, "poll:10": 10.0, "seed-dashboard:3": 3.0,
                     "adaptive": 30.0, "longpoll": 0.0, "sse": 0.0, "ws": 0.0}  # fmt: skip
