"""The crash schedule: every S seconds, SIGKILL the server mid-traffic and bring it back on the same
database file and port.

SIGKILL is the honest crash: no shutdown handler runs, no buffer is flushed, in-flight requests and open
streams die with the process. Whatever the server acknowledged with a 201 before that must still be there
after the restart, and every client must find its way back and resume.
"""

from __future__ import annotations

import asyncio

from loadtests.audit.server import AuditServer

__all__ = ["Killer"]


class Killer:
    """Kills and restarts ``server`` every ``every_s`` seconds until ``stop()``."""

    def __init__(self, server: AuditServer, *, every_s: float) -> None:
        if not every_s > 0:
            raise ValueError(f"every_s must be > 0, got {every_s!r}")
        self.server = server
        self.every_s = every_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """No more kills; a restart already under way still completes."""
        self._stopping.set()

    async def run(self) -> None:
        """Kill and restart on schedule; returns (with the server up) once stopped."""
        loop = asyncio.get_running_loop()
        next_kill = loop.time() + self.every_s
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, next_kill - loop.time()))
                return
            except TimeoutError:
                pass
            await self.server.kill_and_restart()
            # The interval counts from the previous kill, so "every 10 s" means six crashes a minute whatever
            # the restart costs; but the server always lives at least half an interval, so that traffic,
            # not only restarts, happens between two kills.
            next_kill = max(next_kill + self.every_s, loop.time() + self.every_s / 2)
