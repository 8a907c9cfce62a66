"""Long-polling in the model: one parked request per order, answered on news or after the timeout.

A customer keeps one request parked per order (GET /api/messages/wait?orderId=X&since=CURSOR); an admin keeps
one on the all-orders channel. A request that arrives while news is already waiting is answered at once;
otherwise it is parked, and the commit of the next message wakes it (the reply costs the event loop a
service time), or the timeout answers 204. The client re-issues as soon as the answer arrives, so messages
committed in between are picked up by the next request. Channels are stepped together, one request each
per step; the run starts in steady state with every channel parked since a random earlier instant.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pollbench.strategies import LongPoll
from sim.context import Progress, RunContext
from sim.polling import WINDOW_REQUESTS
from sim.server import FifoServer
from sim.tally import Tally

__all__ = ["run_longpoll"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_IMMEDIATE, _REGISTER, _WAKE, _TIMEOUT = 0, 1, 2, 3


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
    by_chan = np.lexsort((ctx.pairs.commit_s[idx], chan))
    idx, chan = idx[by_chan], chan[by_chan]
    tally.sent += idx.size
    commits = ctx.pairs.commit_s[idx]
    span = duration + 2.0 * timeout + 1.0
    keys = chan * span + commits
    nch = owner.size
    ptr = np.searchsorted(keys, np.arange(nch) * span - 0.5)
    end = np.searchsorted(keys, (np.arange(nch) + 1) * span - 0.5)
    at = -rng.uniform(0.0, timeout, nch)  # parked since before the run began (steady state)
    s_reply = ctx.service.mean("longpoll_reply")
    s_timeout = ctx.service.mean("longpoll_timeout")

    items_t, items_kind, items_ch, items_lo, items_hi = [], [], [], [], []
    held = 0.0
    active = np.arange(nch, dtype=np.int64)
    while active.size:
        t = at[active]
        p = ptr[active]
        has_next = p < end[active]
        nxt = np.where(has_next, commits[np.minimum(p, commits.size - 1)] if commits.size else 0.0, np.inf)
        now = nxt <= t
        woken = ~now & (nxt < t + timeout)
        expired = ~now & ~woken
        answer_at = np.where(now, t, np.where(woken, nxt, t + timeout))
        hi = np.where(expired, p, np.searchsorted(keys, active * span + answer_at, side="right"))
        rtt_c = rtt[owner[active]]
        # request arrival: an immediate reply, or a parked registration
        items_t += [t, answer_at[~now]]
        items_kind += [np.where(now, _IMMEDIATE, _REGISTER), np.where(woken[~now], _WAKE, _TIMEOUT)]
        items_ch += [active, active[~now]]
        items_lo += [np.where(now, p, 0), np.where(woken[~now], p[~now], 0)]
        items_hi += [np.where(now, hi, 0), np.where(woken[~now], hi[~now], 0)]
        held += float(np.clip(np.minimum(answer_at, duration) - np.maximum(t, 0.0), 0.0, None).sum())
        ptr[active] = hi
        at[active] = answer_at + np.where(expired, s_timeout, s_reply) + rtt_c
        active = active[at[active] < duration]

    t_all = np.concatenate(items_t)
    kind = np.concatenate(items_kind)
    ch = np.concatenate(items_ch)
    lo = np.concatenate(items_lo)
    hi_all = np.concatenate(items_hi)
    inside = (t_all >= 0.0) & (t_all < duration)
    t_all, kind, ch, lo, hi_all = t_all[inside], kind[inside], ch[inside], lo[inside], hi_all[inside]
    means = np.choose(
        kind,
        [s_reply, ctx.service.mean("longpoll_register"), s_reply, s_timeout],
    )
    services = ctx.service.draw(rng, means)
    by_time = np.argsort(t_all, kind="stable")
    waits = np.empty(t_all.size)
    fifo = FifoServer()
    for start in range(0, t_all.size, WINDOW_REQUESTS):
        part = by_time[start : start + WINDOW_REQUESTS]
        waits[part] = fifo.process(t_all[part], services[part])
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
