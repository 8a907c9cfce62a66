"""Long-poll service times: parking a request, waking it with news, letting it time out.

A long-poll's work comes in two pieces separated by a wait, so it is measured in rounds over a crowd of
already-open connections. Each round sends one long-poll per connection, all on orders with nothing new,
and reads the server's CPU once it has gone quiet: everything spent since the previous quiet reading is
the *registration* of those requests (parse, authenticate, park a future). Then either

- a *wake* round posts one message into each order waited on; every parked request is answered with the
  message. The CPU spent, less the posts (measured separately), divided by the requests, is the cost of a
  woken reply; or
- a *timeout* round asks for a short ``timeout`` and lets every request expire into a 204.

Rounds of either kind run until each has accumulated its CPU target, and the figures are sums over the
rounds, so the CPU tick is a small share of each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.calibrate_http import Conn, Sample
from loadtests.calibrate_plan import Plan
from loadtests.calibrate_polls import order_cursors, post_round
from loadtests.calibrate_server import CalibrateError, CpuClock, Target

__all__ = ["LongPollSettings", "measure_longpoll"]

Report = Callable[[Sample], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class LongPollSettings:
    """How many long-polls the measurement parks and how often."""

    waiters: int = 6000
    """Connections, each holding one long-poll per round."""
    cpu_s: float = 0.5
    """Server CPU to accumulate for the woken replies and for the timeouts (rounds run until both have)."""
    max_rounds: int = 6
    """Give up adding rounds after this many (wake and timeout rounds together)."""
    max_s: float = 30.0
    """Start no new round after this many seconds."""
    orders: int = 20
    """Orders the waiters are spread over (one post per order wakes a round)."""
    timeout_s: float = 0.6
    """``timeout`` of the timeout rounds: long enough for the registration to be read first (a round where
    an answer came before that reading is discarded and the timeout doubled)."""


@dataclass(slots=True)
class _Tally:
    """CPU and count accumulated over rounds (mutable)."""

    cpu_s: float = 0.0
    count: int = 0
    wall_s: float = 0.0

    def add(self, cpu_s: float, count: int, wall_s: float) -> None:
        self.cpu_s += cpu_s
        self.count += count
        self.wall_s += wall_s

    def sample(self, kind: str) -> Sample:
        return Sample(kind=kind, count=self.count, cpu_s=max(self.cpu_s, 0.0), wall_s=self.wall_s)


async def _open_crowd(target: Target, n: int) -> list[Conn]:
    gate = asyncio.Semaphore(100)

    async def one() -> Conn:
        async with gate:
            return await Conn.open(target.host, target.port)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _answer(conn: Conn, expect: int) -> float:
    """Wait for one long-poll's answer; the monotonic time it arrived."""
    status, _head, _body = await conn.read_response()
    if status != expect:
        raise CalibrateError(f"a long-poll answered {status}, expected {expect}")
    return time.monotonic()


async def _answers(answers: asyncio.Future[list[float]], limit_s: float) -> list[float]:
    try:
        return await asyncio.wait_for(answers, limit_s)
    except TimeoutError:
        raise CalibrateError(f"long-polls not answered within {limit_s:.0f} s") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Round:
    """CPU readings of one round."""

    parked_s: float
    """CPU from sending the long-polls until the server went quiet with all of them parked."""
    answered_s: float
    """CPU from then until every long-poll was answered (including any posts)."""
    posts: int
    """Messages posted to wake the round (0 for a timeout round)."""
    clean: bool
    """False when an answer arrived before the quiet reading (a timeout fired before it)."""


async def _round(
    conns: list[Conn],
    control: Conn,
    plan: Plan,
    clock: CpuClock,
    timeout_s: float | None,
    s: LongPollSettings,
) -> _Round:
    """One round: woken by posts (``timeout_s`` None) or left to expire after ``timeout_s``."""
    owners = {c.id: c for c in plan.writers}
    pairs = [(c.id, o) for c, o in plan.writer_orders][: s.orders]
    cursors = await order_cursors(control, plan)
    timeout = 60.0 if timeout_s is None else timeout_s
    cpu0 = await asyncio.to_thread(clock.quiet)
    for i, conn in enumerate(conns):
        customer_id, order_id = pairs[i % len(pairs)]
        conn.writer.write(plan.wait(owners[customer_id], order_id, cursors[order_id], timeout))
    await asyncio.gather(*(c.writer.drain() for c in conns))
    expect = 200 if timeout_s is None else 204
    answers = asyncio.gather(*(_answer(c, expect) for c in conns))
    cpu1 = await asyncio.to_thread(clock.quiet)
    parked_at = time.monotonic()
    if timeout_s is None:
        await post_round(control, plan, pairs)
    arrived = await _answers(answers, 30.0 + timeout)
    cpu2 = await asyncio.to_thread(clock.quiet)
    clean = min(arrived) > parked_at
    posts = len(pairs) if timeout_s is None else 0
    return _Round(parked_s=cpu1 - cpu0, answered_s=cpu2 - cpu1, posts=posts, clean=clean)


async def measure_longpoll(
    target: Target, plan: Plan, clock: CpuClock, post_s: float, settings: LongPollSettings, report: Report
) -> dict[str, Sample]:
    """``longpoll_register``, ``longpoll_woken`` and ``longpoll_timeout`` samples (seconds per request)."""
    register, woken, expired = _Tally(), _Tally(), _Tally()
    conns = await _open_crowd(target, settings.waiters)
    control = await Conn.open(target.host, target.port)
    timeout_s, stop_at = settings.timeout_s, time.monotonic() + settings.max_s
    try:
        for _ in range(settings.max_rounds):
            done = min(woken.cpu_s, expired.cpu_s) >= settings.cpu_s
            if done or (woken.count and expired.count and time.monotonic() > stop_at):
                break
            wake = woken.cpu_s <= expired.cpu_s  # the one further from its target goes next
            started = time.monotonic()
            r = await _round(conns, control, plan, clock, None if wake else timeout_s, settings)
            if not r.clean:
                timeout_s *= 2  # the machine is slow: give the registration reading more room
                continue
            register.add(r.parked_s, len(conns), 0.0)
            answer = woken if wake else expired
            answer.add(r.answered_s - r.posts * post_s, len(conns), time.monotonic() - started)
            report(answer.sample("longpoll_woken" if wake else "longpoll_timeout"))
    finally:
        control.close()
        for conn in conns:
            conn.close()
    return {
        "longpoll_register": register.sample("longpoll_register"),
        "longpoll_woken": woken.sample("longpoll_woken"),
        "longpoll_timeout": expired.sample("longpoll_timeout"),
    }
