"""The knee search's load shape: hold whatever number of receiving clients the search asks for.

Load it next to the locustfile (``locust -f loadtests/locustfile.py,loadtests/shapes.py --control FILE``;
``pollbench capacity --mode measure`` does). The search runs in the pollbench process and writes its next
probe into the control file (:mod:`loadtests.control`); every tick this shape reads it, returns the user
count it asks for (senders and admin panels, plus the probe's receivers) and writes back what is running.
Every Locust process (each worker too) flushes its records and counters every second, so the search judges
each probe from every process's exact records while the run goes on. The shape decides nothing itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import locust.runners
from locust import LoadTestShape, events

from loadtests.context import current_context
from loadtests.control import read_target, status_path, write_status

__all__ = ["ControlledShape"]

FLUSH_EVERY_S = 1.0
"""How often each Locust process writes its records and counters for the search to read."""
HEARTBEAT_LIVENESS = 30
"""Heartbeats (one a second) a worker may miss before its master drops it. Locust's own 3 is too few for
a knee search on 2 cores: a worker spawning thousands of clients next to a saturated server misses
several, the master declares it gone and ends the test (seen at 8 000 SSE clients over 6 workers)."""
locust.runners.HEARTBEAT_LIVENESS = HEARTBEAT_LIVENESS


def _add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("pollbench knee search")
    g.add_argument("--control", default="", help="control file written by the knee search (JSON)")


class ControlledShape(LoadTestShape):
    """Senders (and admin panels) always, plus as many receivers as the control file's target says."""

    def tick(self) -> tuple[int, float] | None:
        from loadtests.users import AdminPanelUser, SenderUser

        assert self.runner is not None and self.runner.environment.parsed_options is not None
        control = Path(self.runner.environment.parsed_options.control)
        fixed = int(SenderUser.fixed_count or 0) + int(AdminPanelUser.fixed_count or 0)
        target = read_target(control)
        if target is None:
            return fixed, 100.0  # senders first, while the search prepares its first probe
        if target.stop:
            return None
        want = fixed + target.receivers
        running = int(self.runner.user_count)
        write_status(status_path(control), probe=target.probe, users=running, target_users=want)
        return want, target.spawn_rate


def _flush_forever() -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        try:
            current_context().recorder.flush_counters(time.time())
        except RuntimeError:
            pass  # the test has not started in this process yet


def _start_flushing(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.control:
        gevent.spawn(_flush_forever)


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.init_command_line_parser, _add_arguments)
_listen(events.test_start, _start_flushing)
