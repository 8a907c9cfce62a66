"""The loss audit (``pollbench audit``): real clients of every strategy against a reference server that
is SIGKILLed and restarted mid-traffic, and a reconciliation of what was acknowledged against what every
client's application received.

Plain asyncio + aiohttp; this package never imports locust. One concept per module:

- ``config``: :class:`AuditConfig`, everything one audit runs;
- ``inbox``: a receiver's per-order cursors, de-duplication by seq and application log;
- ``clients``: one receiver per transport (poll, long-poll, SSE, WebSocket) with backoff and resume;
- ``senders``: posting the planned messages; only a 201 acknowledges;
- ``server``: the ``pollbench serve`` subprocess on a fixed port, database and secret;
- ``killer``: the SIGKILL-and-restart schedule;
- ``reconcile``: acknowledged against delivered: lost, duplicated, out of order;
- ``run``: the orchestration, start to verdict;
- ``progress``: the progress bar and the verdict table.

Importing this package imports nothing.
"""
