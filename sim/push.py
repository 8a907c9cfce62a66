"""Push in the model: SSE and WebSocket keep one open connection per client.

A commit fans out to every recipient's connection: one small job per delivery on the recipient's server
process (its event loop writes the event), arriving when the commit becomes visible (``commit_ms`` after the
message's createdAt: the commit's fsync is on the delivery path). Heartbeats (SSE comments every 15 s) and
pings (WebSocket, every 30 s) are periodic jobs per connection, laid out sorted like setInterval polls, and
count in bytes and radio energy. Clients are connected before the run starts (steady state): each connect is
counted in bytes and in ``extra["connects"]``, not in requests/s (a one-off, not steady load; the load
test leaves it out the same way), and the connect burst does not enter the queue.
"""

from __future__ import annotations

import math

import numpy as np

from pollbench.strategies import ServerSentEvents, WebSocket
from sim.calibration import RequestKind
from sim.context import Progress, RunContext
from sim.polling import WINDOW_REQUESTS
from sim.tally import Tally

__all__ = ["run_push"]


def run_push(
    strategy: ServerSentEvents | WebSocket, ctx: RunContext, tally: Tally, progress: Progress | None = None
) -> None:
    """SSE or WebSocket push on every server process."""
    for server in range(ctx.population.servers):
        _push_server(strategy, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _push_server(strategy: ServerSentEvents | WebSocket, ctx: RunContext, tally: Tally, server: int) -> None:
    wire, duration = ctx.calibration.bytes, ctx.duration
    sse = isinstance(strategy, ServerSentEvents)
    period = strategy.heartbeat_s if isinstance(strategy, ServerSentEvents) else strategy.ping_s
    keepalive_bytes = wire.sse_heartbeat if sse else wire.ws_ping
    per_message = (wire.sse_event_overhead if sse else wire.ws_frame_overhead) + wire.message_overhead
    clients = ctx.population.clients_of(server)
    n = clients.size
    rng = ctx.rng(strategy.spec, server)
    service = ctx.process_service(strategy, server)
    rtt = ctx.rtt_s[clients]
    servers = ctx.population.servers
    idx = np.flatnonzero(ctx.pairs.client % servers == server) if servers > 1 else np.arange(len(ctx.pairs))
    loc = (ctx.pairs.client[idx] - server) // servers
    commits = ctx.pairs.commit_s[idx]
    visible = commits + ctx.visible_delay_s  # each push leaves once its commit is visible
    tally.sent += idx.size
    tally.extra["connects"] = int(tally.extra.get("connects", 0)) + n
    tally.bytes += n * (wire.sse_connect if sse else wire.ws_connect)
    tally.stream_s += n * duration

    offset = rng.uniform(0.0, period, n)
    by_offset = np.argsort(offset)
    inner = offset[by_offset]
    energy = np.flatnonzero(np.isin(clients, ctx.energy_clients))
    periods = math.ceil(duration / period)
    rows = max(1, WINDOW_REQUESTS // n)
    fifo = service.fifo()
    keepalive: RequestKind = "heartbeat" if sse else "ping"
    for p0 in range(0, periods, rows):
        p1 = min(periods, p0 + rows)
        beats = ((np.arange(p0, p1) * period)[:, None] + inner[None, :]).ravel()
        beats = beats[: int(np.searchsorted(beats, duration))]
        beat_srv = service.draw_kind(rng, keepalive, beats.size)
        lo, hi = np.searchsorted(visible, [p0 * period, p1 * period])
        if p1 == periods:
            hi = visible.size  # pushes of the last commits may leave after the run's last period
        push_srv = service.draw_kind(rng, "push", hi - lo)
        w_beat, w_push = fifo.process_merged(beats, beat_srv, visible[lo:hi], push_srv)
        tally.add_waits(w_beat, beat_srv)
        tally.add_waits(w_push, push_srv)
        pi = idx[lo:hi]
        received = visible[lo:hi] + w_push + push_srv + rtt[loc[lo:hi]] / 2.0
        tally.add_deliveries(
            commit_s=commits[lo:hi],
            received_s=received,
            client=ctx.pairs.client[pi],
            order=ctx.pairs.order[pi],
            seq=ctx.pairs.seq[pi],
        )
        tally.bytes += float(
            beats.size * keepalive_bytes + (hi - lo) * per_message + ctx.pairs.size_bytes[pi].sum()
        )
        if energy.size:
            times = (np.arange(p0, p1) * period)[:, None] + offset[energy][None, :] + rtt[energy] / 2.0
            tally.add_activity(np.broadcast_to(clients[energy], times.shape).ravel(), times.ravel())
    fifo.close(duration)
    tally.add_loop(scale=service.scale, loop=fifo)
