"""Long-poll service times: parking a request, waking it with news, letting it time out.

A long-poll's work comes in two pieces separated by a wait, so it is measured in rounds over a crowd of
already-open connections. Each round sends one long-poll per connection, all on orders with nothing new,
and reads the server's CPU once it has gone quiet: everything spent since the previous quiet reading is
the *registration* of those requests (parse, authenticate, park a future). Then either

- a *wake* round posts one message into each order waited on; every parked request is answered with the
  message. The CPU spent, less the posts (measured separately), divided by the requests, is the cost of a
  woken reply; or
- a *timeout* round asks for a short ``timeout`` and lets every request expire into a 204.

Rounds alternate wake and timeout, and the figures are sums over the rounds, so the CPU tick is a small
share of each.
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

    waiters: int = 2000
    """Connections, each holding one long-poll per round."""
    rounds: int = 4
    """Rounds, alternately wake and timeout (an even number measures both equally)."""
    orders: int = 20
    """Orders the waiters are spread over (one post per order wakes a round)."""
    timeout_s: float = 2.0
    """``timeout`` of the timeout rounds: long enough for the registration to be read first."""


@dataclass(slots=True)
class _Tally:
    """CPU and count accumulated over rounds (mutable)."""

    cpu_s: float = 0.0
    count: int = 0
    wall_s: float = 0.0

    def sample(self, kind: str) -> Sample:
        return Sample(kind=kind, count=self.count, cpu_s=max(self.cpu_s, 0.0), wall_s=self.wall_s)


async def _open_crowd(target: Target, n: int) -> list[Conn]:
    gate = asyncio.Semaphore(100)

    async def one() -> Conn:
        async with gate:
            return await Conn.open(target.host, target.port)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _answers(conns: list[Conn], expect: int, limit_s: float) -> None:
    try:
        async with asyncio.timeout(limit_s):
            results = await asyncio.gather(*(c.read_response() for c in conns))
    except TimeoutError:
        raise CalibrateError(f"long-polls not answered within {limit_s:.0f} s") from None
    wrong = [status for status, _h, _b in results if status != expect]
    if wrong:
        raise CalibrateError(f"{len(wrong)} long-polls answered {wrong[0]}, expected {expect}")


async def _round(
    conns: list[Conn], control: Conn, plan: Plan, clock: CpuClock, wake: bool, s: LongPollSettings
) -> tuple[float, float, int]:
    """One round: (registration CPU, answer CPU including posts, posts made)."""
    owners = {c.id: c for c in plan.writers}
    pairs = [(c.id, o) for c, o in plan.writer_orders][: s.orders]
    cursors = await order_cursors(control, plan)
    timeout = 60.0 if wake else s.timeout_s
    cpu0 = await asyncio.to_thread(clock.quiet)
    for i, conn in enumerate(conns):
        customer_id, order_id = pairs[i % len(pairs)]
        conn.writer.write(plan.wait(owners[customer_id], order_id, cursors[order_id], timeout))
    await asyncio.gather(*(c.writer.drain() for c in conns))
    cpu1 = await asyncio.to_thread(clock.quiet)
    if wake:
        await post_round(control, plan, pairs)
    await _answers(conns, 200 if wake else 204, 30.0 + timeout)
    cpu2 = await asyncio.to_thread(clock.quiet)
    return cpu1 - cpu0, cpu2 - cpu1, len(pairs) if wake else 0


async def measure_longpoll(
    target: Target, plan: Plan, clock: CpuClock, post_s: float, settings: LongPollSettings, report: Report
) -> dict[str, Sample]:
    """``longpoll_register``, ``longpoll_woken`` and ``longpoll_timeout`` samples (seconds per request)."""
    register, woken, expired = _Tally(), _Tally(), _Tally()
    conns = await _open_crowd(target, settings.waiters)
    control = await Conn.open(target.host, target.port)
    try:
        for r in range(settings.rounds):
            wake = r % 2 == 0
            started = time.monotonic()
            parked, answered, posts = await _round(conns, control, plan, clock, wake, settings)
            register.cpu_s += parked
            register.count += len(conns)
            answer = woken if wake else expired
            answer.cpu_s += answered - posts * post_s
            answer.count += len(conns)
            answer.wall_s += time.monotonic() - started
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
