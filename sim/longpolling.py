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
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pollbench.strategies import LongPoll
from sim.context import Progress, RunContext
from sim.polling import WINDOW_REQUESTS, server_pairs
from sim.server import waits_in_any_order
from sim.tally import Tally
from sim.workload import advance_past, stable_group_order

__all__ = ["run_longpoll"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyInt = npt.NDArray[np.integer[Any]]

_IMMEDIATE, _REGISTER, _WAKE, _TIMEOUT = 0, 1, 2, 3
SCALAR_BELOW = 32
"""Below this many channels still running, step them one by one in Python (busy admin channels run
thousands of short cycles; a numpy step per cycle would cost more than it saves)."""


class _Schedule:
    """Every channel's request cycles over the run, assuming no queueing (open loop).

    Jobs are kept compact (int8 kind, int32 channel and pair bounds) and only those inside the run, because a
    long-poll run at 10^5 clients holds close to 10^8 of them.
    """

    def __init__(
        self, *, commits: FloatArray, ptr: IntArray, end: IntArray, timeout: float, duration: float
    ) -> None:
        self.commits, self.ptr, self.end = commits, ptr, end
        self.timeout, self.duration = timeout, duration
        self.parts: list[tuple[FloatArray, AnyInt, AnyInt, AnyInt, AnyInt]] = []
        self.held = 0.0

    def run(
        self, at: FloatArray, rtt: FloatArray, s_reply: float, s_timeout: float
    ) -> tuple[FloatArray, AnyInt, AnyInt, AnyInt, AnyInt, float]:
        """Jobs inside the run (time, kind, channel, first pair, end pair) and total parked seconds."""
        active = np.arange(at.size, dtype=np.int64)
        while active.size >= SCALAR_BELOW:
            active = self._vector_step(active, at, rtt, s_reply, s_timeout)
        for ch in active.tolist():
            self._scalar_channel(ch, float(at[ch]), float(rtt[ch]), s_reply, s_timeout)
        if not self.parts:
            self._add(np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0))
        # One column at a time, dropping its parts as soon as it is joined: holding every part and every
        # joined column at once doubled the run's peak memory.
        columns = [list(c) for c in zip(*self.parts, strict=True)]
        self.parts.clear()
        joined: list[npt.NDArray[Any]] = []
        for parts in columns:
            joined.append(np.concatenate(parts))
            parts.clear()
        t, kind, chan, lo, hi = joined
        return t, kind, chan, lo, hi, self.held

    def _add(
        self,
        t: FloatArray,
        kind: npt.NDArray[Any],
        chan: npt.NDArray[Any],
        lo: npt.NDArray[Any],
        hi: npt.NDArray[Any],
    ) -> None:
        inside = (t >= 0.0) & (t < self.duration)
        self.parts.append(
            (
                t[inside],
                kind[inside].astype(np.int8),
                chan[inside].astype(np.int32),
                lo[inside].astype(np.int32),
                hi[inside].astype(np.int32),
            )
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
        self._add(t, np.where(now, _IMMEDIATE, _REGISTER), active, np.where(now, p, 0), np.where(now, hi, 0))
        late = ~now
        w = woken[late]
        self._add(
            answer_at[late],
            np.where(w, _WAKE, _TIMEOUT),
            active[late],
            np.where(w, p[late], 0),
            np.where(w, hi[late], 0),
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
        rows: list[tuple[float, int, int, int]] = []
        i = 0
        while t < self.duration:
            nxt = times[i] if i < len(times) else math.inf
            if nxt <= t:
                j = bisect.bisect_right(times, t, i)
                rows.append((t, _IMMEDIATE, p + i, p + j))
                i, t = j, t + s_reply + rtt
                continue
            rows.append((t, _REGISTER, 0, 0))
            if nxt < t + self.timeout:
                j = bisect.bisect_right(times, nxt, i)
                rows.append((nxt, _WAKE, p + i, p + j))
                self.held += max(0.0, min(nxt, self.duration) - max(t, 0.0))
                i, t = j, nxt + s_reply + rtt
            else:
                rows.append((t + self.timeout, _TIMEOUT, 0, 0))
                self.held += max(0.0, min(t + self.timeout, self.duration) - max(t, 0.0))
                t = t + self.timeout + s_timeout + rtt
        if rows:
            arr = np.array(rows)
            self._add(arr[:, 0], arr[:, 1], np.full(arr.shape[0], ch), arr[:, 2], arr[:, 3])


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


def _channel_pairs(
    ctx: RunContext, server: int, clients: IntArray, first_channel: IntArray, channels: int
) -> tuple[IntArray, FloatArray, IntArray, IntArray]:
    """The server's pairs grouped per channel in commit order: indices, visible times, channel slices."""
    pop = ctx.population
    idx, loc = server_pairs(ctx, server)
    in_order = ctx.pairs.order[idx] - clients[loc] * pop.orders_per_customer
    chan = first_channel[loc] + np.where(clients[loc] >= pop.customers, 0, in_order)
    by_chan = stable_group_order(chan, channels)  # pairs are in commit order: (channel, commit) order
    idx, chan = idx[by_chan], chan[by_chan]
    end = np.cumsum(np.bincount(chan, minlength=channels))
    visible = ctx.pairs.commit_s[idx] + ctx.visible_delay_s  # a commit wakes its waiters once it is visible
    return idx, visible, np.r_[0, end[:-1]].astype(np.int64), end


def _longpoll_server(spec: LongPoll, ctx: RunContext, tally: Tally, server: int) -> None:
    clients = ctx.population.clients_of(server)
    rng = ctx.rng(spec.spec, server)
    service = ctx.process_service(spec, server)
    rtt = ctx.rtt_s[clients]
    owner, first_channel = _channels(ctx, clients)
    idx, commits, ptr, end = _channel_pairs(ctx, server, clients, first_channel, owner.size)
    tally.sent += idx.size
    at = -rng.uniform(0.0, spec.timeout_s, owner.size)  # parked since before the run began (steady state)
    s_reply, s_timeout = service.mean("longpoll_reply"), service.mean("longpoll_timeout")
    sched = _Schedule(commits=commits, ptr=ptr, end=end, timeout=spec.timeout_s, duration=ctx.duration)
    t_all, kind, ch, lo, hi, held = sched.run(at, rtt[owner], s_reply, s_timeout)
    del sched
    # Channel owners fit int32 (one server's clients); the job table is ~10^8 rows at 10^5 clients.
    jobs = _Jobs(time=t_all, kind=kind, owner=owner.astype(np.int32)[ch], lo=lo, hi=hi)
    del ch
    means = np.array([s_reply, service.mean("longpoll_register"), s_reply, s_timeout])
    services = service.draw_indexed(rng, means, jobs.kind)
    fifo = service.fifo()
    waits = waits_in_any_order(jobs.time, services, chunk=WINDOW_REQUESTS, fifo=fifo)
    fifo.close(ctx.duration)
    tally.add_loop(scale=service.scale, loop=fifo)
    tally.add_waits(waits, services)
    tally.stream_s += held  # parked; the channel's connection stays open (keep-alive) between requests
    _count(ctx, tally, jobs, idx)
    waits += services  # now the sojourn: wait plus service
    del services
    _deliver(ctx, tally, jobs, idx, waits, rtt, clients)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Jobs:
    """Server jobs of the long-poll schedule inside the run."""

    time: FloatArray
    """Arrival of the job at the event loop."""
    kind: AnyInt
    """_IMMEDIATE, _REGISTER, _WAKE or _TIMEOUT."""
    owner: AnyInt
    """Local index of the client whose channel it serves."""
    lo: AnyInt
    """First pair (channel-grouped index) the job delivers."""
    hi: AnyInt
    """One past the last pair it delivers."""


def _count(ctx: RunContext, tally: Tally, jobs: _Jobs, idx: IntArray) -> None:
    wire, kind = ctx.calibration.bytes, jobs.kind
    arrivals = int(np.count_nonzero((kind == _IMMEDIATE) | (kind == _REGISTER)))
    replies = int(np.count_nonzero((kind == _IMMEDIATE) | (kind == _WAKE)))
    timeouts = int(np.count_nonzero(kind == _TIMEOUT))
    tally.requests += arrivals
    tally.polls += arrivals
    tally.empty_polls += timeouts
    delivered = int((jobs.hi - jobs.lo).sum())
    tally.bytes += float(
        arrivals * wire.request
        + replies * (wire.response_headers + wire.since_envelope)
        + timeouts * wire.longpoll_204
        + delivered * wire.message_overhead
    )


def _deliver(
    ctx: RunContext, tally: Tally, jobs: _Jobs, idx: IntArray, sojourn: FloatArray, rtt: FloatArray,
    clients: IntArray,
) -> None:  # fmt: skip
    """Messages handed over by replies (and their text bytes); the client holds them half an RTT later."""
    # Only replies carrying messages deliver: work on those (far fewer than all jobs) in job order.
    carrying = np.flatnonzero(jobs.hi > jobs.lo)
    count = (jobs.hi[carrying] - jobs.lo[carrying]).astype(np.int64)
    delivering = np.repeat(carrying, count)
    starts = np.repeat(np.cumsum(count) - count, count)
    pi = idx[np.repeat(jobs.lo[carrying].astype(np.int64), count) + np.arange(delivering.size) - starts]
    tally.bytes += float(ctx.pairs.size_bytes[pi].sum())
    owner = jobs.owner[delivering]
    tally.add_deliveries(
        commit_s=ctx.pairs.commit_s[pi],
        received_s=jobs.time[delivering] + sojourn[delivering] + rtt[owner] / 2.0,
        client=ctx.pairs.client[pi],
        order=ctx.pairs.order[pi],
        seq=ctx.pairs.seq[pi],
    )
    # Radio activity of the energy sample: every answer reaching a sampled client.
    answers = np.flatnonzero((jobs.kind != _REGISTER) & np.isin(clients, tally.energy_clients)[jobs.owner])
    done = jobs.time[answers] + sojourn[answers] + rtt[jobs.owner[answers]] / 2.0
    tally.add_activity(clients[jobs.owner[answers]], done)
