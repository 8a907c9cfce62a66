"""How each shared strategy (pollbench.strategies) is simulated: the model that runs it and its request rate.

The spec objects are defined once in ``pollbench.strategies``; this module only maps each to the fast-path
model that generates its requests and deliveries, and estimates how many requests it will make (used to size
samples and for progress).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pollbench.strategies import (
    Adaptive,
    LongPoll,
    Poll,
    SeedDashboard,
    ServerSentEvents,
    Strategy,
    WebSocket,
)
from sim.adaptive import run_adaptive
from sim.context import Progress, RunContext
from sim.dashboard import run_seed_dashboard
from sim.longpolling import run_longpoll
from sim.polling import run_poll
from sim.push import run_push
from sim.tally import Tally

__all__ = ["expected_cost_s", "expected_requests", "fast_model"]

FastModel = Callable[[Any, RunContext, Tally, Progress | None], None]


def fast_model(strategy: Strategy) -> FastModel:
    """The bulk (numpy) model of `strategy`."""
    if isinstance(strategy, Poll):
        return run_poll
    if isinstance(strategy, SeedDashboard):
        return run_seed_dashboard
    if isinstance(strategy, Adaptive):
        return run_adaptive
    if isinstance(strategy, LongPoll):
        return run_longpoll
    if isinstance(strategy, ServerSentEvents | WebSocket):
        return run_push
    raise TypeError(f"no simulator model for {strategy!r}")


def expected_requests(strategy: Strategy, ctx: RunContext) -> float:
    """Rough number of server jobs the strategy causes over the run (sizes samples, weights progress)."""
    clients, duration = ctx.population.clients, ctx.duration
    messages = float(len(ctx.pairs))
    if isinstance(strategy, Poll):
        return clients * duration / strategy.interval_s + messages
    if isinstance(strategy, SeedDashboard):
        return clients * duration / strategy.interval_s * (1 + ctx.population.orders_per_customer)
    if isinstance(strategy, Adaptive):
        return clients * duration / strategy.min_s + messages
    if isinstance(strategy, LongPoll):
        return ctx.population.orders * duration / strategy.timeout_s + 2 * messages
    period = strategy.heartbeat_s if isinstance(strategy, ServerSentEvents) else strategy.ping_s
    return clients * duration / period + messages


# Fast-path seconds per expected request, measured at 100 000 clients on the project's 2-core machine.
# Only used to hand the most expensive strategies to worker processes first.
_SECONDS_PER_REQUEST: dict[type, float] = {
    Poll: 0.08e-6,
    SeedDashboard: 0.035e-6,
    Adaptive: 0.13e-6,
    LongPoll: 0.53e-6,
    ServerSentEvents: 0.06e-6,
    WebSocket: 0.06e-6,
}


def expected_cost_s(strategy: Strategy, ctx: RunContext) -> float:
    """Rough fast-path compute time of the strategy, for scheduling strategies over worker processes."""
    return expected_requests(strategy, ctx) * _SECONDS_PER_REQUEST[type(strategy)]
