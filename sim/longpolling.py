"""Long-polling in the model: one parked request per order, answered on news or after the timeout.

A customer keeps one request parked per order (GET /api/messages/wait?orderId=X&since=CURSOR); an admin keeps
one on the all-orders channel. A request that arrives while news is already waiting is answered at once;
otherwise it is parked, and the commit of the next message wakes it (the reply costs the event loop a
service time), or the timeout answers 204. The client re-issues as soon as the answer arrives, so messages
committed in between are picked up by the next request. Channels are stepped together, one request each
per step; the run starts in steady state with every channel parked since a random earlier instant.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import numpy.typing as npt

from pollbench.strategies import LongPoll
from sim.context import Progress, RunContext
from sim.polling import WINDOW_REQUESTS
from sim.server import FifoServer, arrival_order
from sim.tally import Tally
from sim.workload import advance_past, stable_group_order

__all__ = ["run_longpoll"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_IMMEDIATE, _REGISTER, _WAKE, _TIMEOUT = 0, 1, 2, 3
SCALAR_BELOW = 32
"""Below this many channels still running, step them one by one in Python (busy admin channels run
thousands of short cycles; a numpy step per cycle would cost more than it saves)."""


class _Schedule:
    """Every channel's request cycles over the run, assuming no queueing (open loop)."""

    def __init__(
        self,
        *,
        commits: FloatArray,
        ptr: IntArray,
        end: IntArray,
        timeout: float,
        duration: float,
    ) -> None:
        self.commits, self.ptr, self.end = commits, ptr, end
        self.timeout, self.duration = timeout, duration
        self.parts: list[tuple[FloatArray, IntArray, IntArray, IntArray, IntArray]] = []
        self.held = 0.0

    def run(
        self, at: FloatArray, rtt: FloatArray, s_reply: float, s_timeout: float
    ) -> tuple[FloatArray, IntArray, IntArray, IntArray, IntArray, float]:
        """Items (time, kind, channel, first pair, end pair) and total parked seconds."""
        active = np.arange(at.size, dtype=np.int64)
        while active.size >= SCALAR_BELOW:
            active = self._vector_step(active, at, rtt, s_reply, s_timeout)
        for ch in active.tolist():
            self._scalar_channel(ch, float(at[ch]), float(rtt[ch]), s_reply, s_timeout)
        cols = (
            list(zip(*self.parts, strict=True))
            if self.parts
            else [[np.empty(0)]] + [[np.empty(0, np.int64)]] * 4
        )
        t, kind, chan, lo, hi = (np.concatenate(c) for c in cols)
        return (
            t,
            kind.astype(np.int64),
            chan.astype(np.int64),
            lo.astype(np.int64),
            hi.astype(np.int64),
            self.held,
        )

    def _vector_step(
        self, active: IntArray, at: FloatArray, rtt: FloatArray, s_reply: float, s_timeout: float
    ) -> IntArray:
        t, p, timeout = at[active], self.ptr[active], self.timeout
        nxt = np.full(active.size, np.inf)
        has = p < self.end[active]
        nxt[has] = self.commits[p[has]]
        now = nxt <= t
        woken = ~now & (nxt < t + timeout)
        expired = ~now & ~woken
        answer_at = np.where(now, t, np.where(woken, nxt, t + timeout))
        hi = np.where(expired, p, advance_past(self.commits, self.ptr, self.end, active, answer_at))
        # the request's arrival (an immediate reply or a parked registration), then the parked one's answer
        self.parts.append(
            (t, np.where(now, _IMMEDIATE, _REGISTER), active, np.where(now, p, 0), np.where(now, hi, 0))
        )
        late = ~now
        self.parts.append(
            (
                answer_at[late],
                np.where(woken[late], _WAKE, _TIMEOUT),
                active[late],
                np.where(woken[late], p[late], 0),
                np.where(woken[late], hi[late], 0),
            )
        )
        self.held += float(
            np.clip(np.minimum(answer_at, self.duration) - np.maximum(t, 0.0), 0.0, None).sum()
        )
        self.ptr[active] = hi
        at[active] = answer_at + np.where(expired, s_timeout, s_reply) + rtt[active]
        return active[at[active] < self.duration]

    def _scalar_channel(self, ch: int, t: float, rtt: float, s_reply: float, s_timeout: float) -> None:
        p, end = int(self.ptr[ch]), int(self.end[ch])
        times = self.commits[p:end].tolist()
        base = p
        rows: list[tuple[float, int, int, int]] = []
        i = 0
        while t < self.duration:
            nxt = times[i] if i < len(times) else math.inf
            if nxt <= t:
                j = bisect.bisect_right(times, t, i)
                rows.append((t, _IMMEDIATE, base + i, base + j))
                i, t = j, t + s_reply + rtt
                continue
            rows.append((t, _REGISTER, 0, 0))
            if nxt < t + self.timeout:
                j = bisect.bisect_right(times, nxt, i)
                rows.append((nxt, _WAKE, base + i, base + j))
                self.held += max(0.0, min(nxt, self.duration) - max(t, 0.0))
                i, t = j, nxt + s_reply + rtt
            else:
                rows.append((t + self.timeout, _TIMEOUT, 0, 0))
                self.held += max(0.0, min(t + self.timeout, self.duration) - max(t, 0.0))
                t = t + self.timeout + s_timeout + rtt
        if rows:
            arr = np.array(rows)
            n = arr.shape[0]
            self.parts.append(
                (
                    arr[:, 0],
                    arr[:, 1].astype(np.int64),
                    np.full(n, ch, dtype=np.int64),
                    arr[:, 2].astype(np.int64),
                    arr[:, 3].astype(np.int64),
                )
            )


def run_longpoll(strategy: LongPoll, ctx: RunContext, tally: Tally, progress: Progress | None = None) -> None:
    """Long-polling on every server process."""
    for server in range(ctx.population.servers):
        _longpoll_server(strategy, ctx, tally, server)
        if progress:
            progress((server + 1) / ctx.population.servers)


def _channels(ctx: RunContext, clients: IntArray) -> tuple[IntArray, IntArray]:
    """Channel owners (local client index) and each customer order's / admin's channel number."""
    pop = ctx.population
    per = np.where(clients >= pop.customers, 1, pop.orders_per_customer)
    owner = np.repeat(np.arange(clients.size, dtype=np.int64), per)
    return owner, np.cumsum(per) - per


def _longpoll_server(spec: LongPoll, ctx: RunContext, tally: Tally, server: int) -> None:
    pop, wire, duration, timeout = ctx.population, ctx.calibration.bytes, ctx.duration, spec.timeout_s
    servers = pop.servers
    clients = pop.clients_of(server)
    rng = ctx.rng(spec.spec, server)
    rtt = ctx.rtt_s[clients]
    owner, first_channel = _channels(ctx, clients)
    idx = np.flatnonzero(ctx.pairs.client % servers == server) if servers > 1 else np.arange(len(ctx.pairs))
    loc = (ctx.pairs.client[idx] - server) // servers
    is_admin = clients[loc] >= pop.customers
    chan = first_channel[loc] + np.where(
        is_admin, 0, ctx.pairs.order[idx] - clients[loc] * pop.orders_per_customer
    )
    by_chan = stable_group_order(chan, owner.size)  # pairs are in commit order: (channel, commit) order
    idx, chan = idx[by_chan], chan[by_chan]
    tally.sent += idx.size
    commits = ctx.pairs.commit_s[idx]
    nch = owner.size
    end = np.cumsum(np.bincount(chan, minlength=nch))
    ptr = np.r_[0, end[:-1]].astype(np.int64)
    at = -rng.uniform(0.0, timeout, nch)  # parked since before the run began (steady state)
    s_reply = ctx.service.mean("longpoll_reply")
    s_timeout = ctx.service.mean("longpoll_timeout")

    sched = _Schedule(commits=commits, ptr=ptr, end=end, timeout=timeout, duration=duration)
    t_all, kind, ch, lo, hi_all, held = sched.run(at, rtt[owner], s_reply, s_timeout)
    inside = (t_all >= 0.0) & (t_all < duration)
    t_all, kind, ch, lo, hi_all = t_all[inside], kind[inside], ch[inside], lo[inside], hi_all[inside]
    means = np.choose(
        kind,
        [s_reply, ctx.service.mean("longpoll_register"), s_reply, s_timeout],
    )
    services = ctx.service.draw(rng, means)
    by_time = arrival_order(t_all)
    waits = np.empty(t_all.size)
    fifo = FifoServer()
    for start in range(0, t_all.size, WINDOW_REQUESTS):
        part = by_time[start : start + WINDOW_REQUESTS]
        waits[part] = fifo.process_trusted(np.maximum.accumulate(t_all[part]), services[part])
    tally.add_waits(waits, services)

    count = hi_all - lo
    replies = (kind == _IMMEDIATE) | (kind == _WAKE)
    arrivals = int(np.count_nonzero((kind == _IMMEDIATE) | (kind == _REGISTER)))
    tally.requests += arrivals
    tally.polls += arrivals
    tally.empty_polls += int(np.count_nonzero(kind == _TIMEOUT))
    delivering = np.repeat(np.arange(t_all.size), count)
    pair_at = np.repeat(lo, count) + (np.arange(delivering.size) - np.repeat(np.cumsum(count) - count, count))
    pi = idx[pair_at]
    text = ctx.pairs.size_bytes[pi]
    tally.bytes += float(
        arrivals * wire.request
        + np.count_nonzero(replies) * (wire.response_headers + wire.since_envelope)
        + np.count_nonzero(kind == _TIMEOUT) * wire.longpoll_204
        + pi.size * wire.message_overhead
        + text.sum()
    )
    c_loc = owner[ch]
    received = t_all[delivering] + waits[delivering] + services[delivering] + rtt[c_loc[delivering]] / 2.0
    tally.add_deliveries(
        commit_s=ctx.pairs.commit_s[pi],
        received_s=received,
        client=ctx.pairs.client[pi],
        order=ctx.pairs.order[pi],
        seq=ctx.pairs.seq[pi],
    )
    answers = kind != _REGISTER
    tally.add_activity(
        clients[c_loc[answers]], t_all[answers] + services[answers] + rtt[c_loc[answers]] / 2.0
    )
    tally.connection_s += held
