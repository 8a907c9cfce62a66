"""SSE and WebSocket push in the fast path: fan-out latency, heartbeat bytes, open connections."""

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
