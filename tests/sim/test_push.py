"""SSE and WebSocket push in the fast path: fan-out latency, heartbeat bytes, open connections."""

import numpy as np
import pytest

from sim.calibration import Calibration, WireBytes
from tests.sim.conftest import run_one


def test_push_latency_is_service_plus_half_rtt_when_idle():
    r = run_one("sse", clients=50, rtt_ms=60.0, rtt_sigma=0.0, service_time_ms=0.5, message_interval=600.0)
    assert r.latency_s.p50 == pytest.approx(0.0005 + 0.030, abs=1e-6)
    assert r.messages.delivered == r.messages.sent
    assert r.open_connections == 51  # 50 customers + 1 admin on one process


def test_heartbeats_alone_cost_their_bytes():
    """No messages: bytes = connect + one heartbeat per 15 s per client."""
    wire = WireBytes()
    r = run_one("sse", clients=10, admins=0, message_interval=1e7, duration=600.0, calibration=Calibration())
    per_client = wire.sse_connect + 40 * wire.sse_heartbeat
    assert r.bytes_per_client_per_min == pytest.approx(per_client / 10.0, rel=0.01)


def test_ws_pings_less_often_than_sse_heartbeats():
    sse = run_one("sse", clients=50, message_interval=1e7, duration=600.0)
    ws = run_one("ws", clients=50, message_interval=1e7, duration=600.0)
    assert ws.server_utilization < sse.server_utilization


@pytest.mark.parametrize("engine", ["fast", "des"])
def test_the_commit_time_shifts_every_push_by_exactly_that_much(engine):
    """Deterministic services, pings too rare to collide: each delivery is commit_ms later, nothing else
    changes (push latency = commit_ms + wait + push service + RTT/2)."""
    from pollbench.scenario import Scenario
    from pollbench.strategies import parse_strategy
    from sim.context import build_context
    from sim.run import simulate_strategy

    def records(commit_ms: float):
        sc = Scenario(clients=40, duration=600.0, message_interval=60.0, rtt_sigma=0.0, service_time_ms=0.5)
        ctx = build_context(sc, Calibration(commit_ms=commit_ms))
        result, rec = simulate_strategy(parse_strategy("ws:1000000"), ctx, engine=engine)
        order = np.lexsort((rec["client"], rec["seq"]))
        return result, rec["latency_s"][order]

    r0, base = records(0.0)
    r3, later = records(3.0)
    assert base.size == later.size == r0.messages.sent
    np.testing.assert_allclose(later - base, 0.003, rtol=0, atol=1e-9)
    assert r3.latency_s.p50 == pytest.approx(0.003 + 0.0005 + 0.025, abs=1e-9)
