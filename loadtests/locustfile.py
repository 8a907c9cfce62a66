"""pollbench's locustfile: receiving clients of one delivery strategy, plus the senders that feed them.

Run it through ``pollbench loadtest`` (which starts a server, runs every strategy in turn and merges the
results), or directly::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 --fixtures fixtures.json \\
        --strategy poll:3 --receivers 100 -u 104 -r 50 --headless -t 60s --raw-dir raw/

With no user classes named on the command line, the strategy picks them: its receiver class
(``PollingUser``, ``SeedDashboardUser``, ``AdaptivePollingUser``, ``LongPollUser``, ``SSEUser`` or
``WebSocketUser``) with ``--receivers`` users, ``SenderUser`` with enough users to cover those receivers'
orders, and ``--admin-panels`` ``AdminPanelUser``s. Locust's ``-u`` should be their sum (``pollbench
loadtest`` computes it). Delivery latencies appear in Locust's stats as ``DELIVER <strategy>``; exact
records go to ``--raw-dir``, one set of files per process (workers included).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust import User, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.context import LoadContext, Settings, current_context, set_context
from loadtests.dispatch import SendersFirstDispatcher
from loadtests.fixtures import load_fixtures
from loadtests.steps import warm_up_seconds
from loadtests.users import (
    AdaptivePollingUser,
    AdminPanelUser,
    LongPollUser,
    PollingUser,
    SeedDashboardUser,
    SenderUser,
    SSEUser,
    WebSocketUser,
)
from pollbench.strategies import Strategy, parse_strategy

__all__ = [
    "AdaptivePollingUser",
    "AdminPanelUser",
    "LongPollUser",
    "PollingUser",
    "SSEUser",
    "SeedDashboardUser",
    "SenderUser",
    "WebSocketUser",
    "receiver_class",
]

log = logging.getLogger("pollbench")

_RECEIVERS: dict[str, type[User]] = {
    "poll": PollingUser,
    "seed-dashboard": SeedDashboardUser,
    "adaptive": AdaptivePollingUser,
    "longpoll": LongPollUser,
    "sse": SSEUser,
    "ws": WebSocketUser,
}


def receiver_class(strategy: Strategy) -> type[User]:
    """The Locust user class that receives messages by `strategy`."""
    return _RECEIVERS[strategy.spec.split(":", 1)[0]]


def _add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("pollbench")
    add = g.add_argument
    add("--strategy", default="poll:3", help="delivery strategy spec of the receivers, e.g. poll:3, sse")
    add("--fixtures", default="fixtures.json", help="fixtures file written by pollbench serve")
    add("--message-interval", type=float, default=10.0, help="mean seconds between messages per order")
    add("--receivers", type=int, default=0, help="receiving clients in the test (0: all customers)")
    add("--customers-per-sender", type=int, default=25, help="customers one sender user serves")
    add("--send-for", type=float, default=0.0, help="senders stop after this many seconds (0: never)")
    add("--stop-after", type=float, default=0.0, help="quit the run after this many seconds (0: never)")
    add("--raw-dir", default="", help="directory for exact per-process delivery records")
    add("--seed", type=int, default=1, help="seed of every random stream")
    add("--hidden-fraction", type=float, default=0.0, help="share of adaptive clients with hidden tabs")
    add("--max-connections", type=int, default=2, help="connections one polling client may hold")
    add("--message-bytes", type=int, default=200, help="approximate JSON size of one message")
    add("--min-message-rate", type=float, default=0.0, help="messages/s all senders post at least (0: none)")
    add("--admin-panels", type=int, default=0, help="AdminPanelUser instances (background load)")


def settings_from(options: Any, receivers_default: int) -> Settings:
    """Settings from Locust's parsed options (custom arguments above)."""
    return Settings(
        strategy=parse_strategy(options.strategy),
        message_interval_s=float(options.message_interval),
        receivers=int(options.receivers) or receivers_default,
        customers_per_sender=max(1, int(options.customers_per_sender)),
        send_for_s=float(options.send_for),
        raw_dir=Path(options.raw_dir) if options.raw_dir else None,
        seed=int(options.seed),
        hidden_fraction=float(options.hidden_fraction),
        max_connections=max(1, int(options.max_connections)),
        message_bytes=int(options.message_bytes),
        min_message_rate=float(options.min_message_rate),
    )


def _choose_users(environment: Environment, **_: Any) -> None:
    """On the process that dispatches users, pick the strategy's classes and how many of each."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return  # workers run whatever the master dispatches
    try:
        fixtures = load_fixtures(options.fixtures)
        settings = settings_from(options, len(fixtures.customers))
    except ValueError as exc:  # FixturesError, StrategyError: bad input gets a sentence, not a traceback
        log.error("pollbench: %s", exc)
        sys.exit(2)
    if options.user_classes:
        return  # the user named classes explicitly: respect that choice
    receiver = receiver_class(settings.strategy)
    workers = int(options.expect_workers) if isinstance(environment.runner, MasterRunner) else 1
    SenderUser.fixed_count = settings.senders(workers)
    chosen: list[type[User]] = [SenderUser, receiver]
    if options.receivers:
        receiver.fixed_count = settings.receivers
    if options.admin_panels:
        AdminPanelUser.fixed_count = int(options.admin_panels)
        chosen.append(AdminPanelUser)
    environment.user_classes[:] = chosen
    environment.dispatcher_class = SendersFirstDispatcher  # one sender per worker (see loadtests.dispatch)
    _size_the_test(options, SenderUser.fixed_count + settings.receivers + int(options.admin_panels or 0))
    log.info(
        "pollbench: strategy %s, %s receivers (%s), %d senders",
        settings.strategy.spec,
        settings.receivers if options.receivers else "remaining",
        receiver.__name__,
        SenderUser.fixed_count,
    )


def _size_the_test(options: Any, needed: int) -> None:
    """Default Locust's -u to senders + receivers + admin panels, so a plain ``--headless`` run (Locust
    would start 1 user: a sender with nobody to send to) measures every fixtures customer; warn when an
    explicit -u leaves no room for receivers."""
    if options.num_users is None:
        options.num_users = needed
        if options.spawn_rate is None:
            options.spawn_rate = max(1.0, needed / 2.0)
    elif options.num_users < needed:
        log.warning(
            "pollbench: -u %d is fewer than the %d users this test needs (senders, receivers and admin "
            "panels); receivers fill only what the senders leave, so use -u %d",
            options.num_users,
            needed,
            needed,
        )


def _stop_at(environment: Environment, seconds: float) -> None:
    """Quit the run `seconds` after it started, judged by the monotonic clock, not by an event-loop timer.

    Locust's own --run-time is a single gevent timer armed from the loop's cached clock. When several load
    tests start at once on a busy machine that clock can lag by seconds, and an 11 s run was stopped after
    0.4 s. Short sleeps re-checked against time.monotonic() cannot end early.
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        gevent.sleep(min(0.5, left))
    log.info("pollbench: run time of %.0f s reached, stopping", seconds)
    if environment.runner is not None:
        environment.runner.quit()


def _mark_steady(recorder: Any, seconds: float, warm: bool) -> None:
    """Snapshot the receivers' counters `seconds` into sending (monotonic clock, like _stop_at)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        gevent.sleep(min(0.5, left))
    recorder.mark_steady(time.time(), warm=warm)


def _start(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.stop_after > 0 and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_stop_at, environment, float(options.stop_after))
    if isinstance(environment.runner, MasterRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    fixtures = load_fixtures(options.fixtures)
    runner = environment.runner
    worker = isinstance(runner, WorkerRunner)
    context = LoadContext(
        settings=settings_from(options, len(fixtures.customers)),
        fixtures=fixtures,
        host=environment.host or fixtures.base_url,
        worker_index=max(0, runner.worker_index) if isinstance(runner, WorkerRunner) else 0,
        workers=int(getattr(options, "expect_workers", 1) or 1) if worker else 1,
    )
    context.recorder.started_at = time.time()
    send_for = context.settings.send_for_s
    if send_for > 0:
        # Warm-up: every client started (the spawn ramp, plus a second) and one slowest poll interval, at most
        # half the sending, so every client is on its grid before the steady window opens.
        warm_up = warm_up_seconds(
            context.settings.strategy,
            send_for_s=send_for,
            users=int(options.num_users or 0),
            spawn_rate=float(options.spawn_rate or 1.0),
        )
        gevent.spawn(_mark_steady, context.recorder, warm_up, True)
        gevent.spawn(_mark_steady, context.recorder, send_for, False)
    set_context(context)


def _stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    try:
        current_context().recorder.flush(time.time())
    except RuntimeError:
        pass  # the test never started in this process


def _quit(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    try:
        current_context().recorder.close(time.time())
    except RuntimeError:
        pass


# Registered explicitly rather than with decorators: Locust's decorators are untyped.
def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.init_command_line_parser, _add_arguments)
_listen(events.init, _choose_users)
_listen(events.test_start, _start)
_listen(events.test_stop, _stop)
_listen(events.quitting, _quit)
