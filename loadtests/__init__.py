"""Measured results: Locust scenarios for every delivery strategy against the reference server.

Two sides, kept apart because ``import locust`` monkey-patches the whole process with gevent:

- **inside Locust** (imports locust): ``locustfile`` (custom arguments, user selection), ``users/`` (one
  user class per strategy, senders, the seed's admin panel), ``shapes`` (the capacity step shape),
  ``bench_locustfile`` (harness-overhead benchmark). They build on plain modules: ``wire`` (byte-counting
  HTTP/1.1), ``websocket``, ``sse``, ``recorder`` (exact per-process records), ``context``, ``fixtures``,
  ``steps``.
- **in the pollbench process** (never imports locust): ``runner`` and ``session`` (``pollbench loadtest``),
  ``server_process``, ``server_metrics``, ``merge``, ``summary``, ``thresholds``, ``capacity``
  (``pollbench capacity --mode measure``), ``bench`` (``python -m loadtests.bench``). They start Locust as a
  subprocess and read what it wrote.

Importing this package imports nothing.
"""
