"""Locust users for the harness-overhead benchmark: the same conditional GET, bare and through pollbench.

``BareGetUser`` is Locust's stock ``FastHttpUser``; ``HarnessGetUser`` sends the identical request through
pollbench's byte-counting connection and request accounting (:meth:`PollbenchUser.http`). Both poll
``GET /api/orders`` with ``If-None-Match`` as fast as they can (a 304 each time), so the ratio of their
request rates is the harness's per-request overhead. Run by ``python -m loadtests.bench``.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, constant, events, task

from loadtests.fixtures import Customer, load_fixtures
from loadtests.recorder import Traffic
from loadtests.users.base import PollbenchUser
from loadtests.wire import HttpConnection

__all__ = ["BareGetUser", "HarnessGetUser"]

_customers: list[Customer] = []
_next = itertools.count()


def _add_arguments(parser: Any) -> None:
    parser.add_argument("--fixtures", default="fixtures.json", help="fixtures file of the server")


def _load(environment: Any, **_: Any) -> None:
    _customers[:] = load_fixtures(environment.parsed_options.fixtures).customers


def _listen(hook: Any, handler: Any) -> None:
    hook.add_listener(handler)


_listen(events.init_command_line_parser, _add_arguments)
_listen(events.init, _load)


def _customer() -> Customer:
    return _customers[next(_next) % len(_customers)]


class BareGetUser(FastHttpUser):
    """Stock Locust: FastHttpUser (geventhttpclient) issuing the conditional poll."""

    wait_time = constant(0)

    def on_start(self) -> None:
        c = _customer()
        self.headers = {"Authorization": f"Bearer {c.token}", "Accept": "application/json"}
        resp = self.client.get("/api/orders", headers=self.headers, name="/api/orders (first)")
        etag = resp.headers.get("etag") if resp.headers is not None else None
        self.headers["If-None-Match"] = str(etag or "")

    @task
    def poll(self) -> None:
        self.client.get("/api/orders", headers=self.headers)  # a 304 counts as success in FastHttpUser


class HarnessGetUser(PollbenchUser):
    """The same poll through pollbench's counted connection and request events."""

    def on_start(self) -> None:
        url = urlsplit(self.host)
        self.traffic = Traffic()
        self.conn = HttpConnection(str(url.hostname or "127.0.0.1"), int(url.port or 80))
        c = _customer()
        self.headers = {"Authorization": f"Bearer {c.token}", "Accept": "application/json"}
        resp = self.http(self.conn, "GET", "/api/orders", name="/api/orders (first)", headers=self.headers)
        self.headers["If-None-Match"] = resp.headers.get("etag", "") if resp else ""

    @task
    def poll(self) -> None:
        self.http(self.conn, "GET", "/api/orders", name="/api/orders", headers=self.headers, ok=(304,))
