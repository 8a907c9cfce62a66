"""Sender users: the other side of every conversation.

Each sender serves a share of the receivers running in its own Locust process and posts into their
orders as a Poisson process with mean ``--message-interval`` per order: the superposition over its
orders is one Poisson process whose events pick an order uniformly. Posts alternate per order between
the customer's token (the customer writing from another device) and an admin's. The schedule is
absolute (next post time = previous scheduled time + exponential gap), so a slow POST does not lower
the rate.

After ``--send-for`` seconds senders fall silent: the receivers then have the rest of the run to
drain, and any message still missing is a real gap, not an unfinished delivery.
"""

from __future__ import annotations

import json
import random
import time

import gevent
from locust import task

from loadtests.recorder import parse_created_at
from loadtests.users.base import PollbenchUser
from loadtests.wire import HttpConnection

__all__ = ["SenderUser", "message_content"]


def message_content(size_bytes: int, n: int) -> str:
    """Content padding a message's JSON to about `size_bytes` (the other fields take ~170 bytes)."""
    text = f"load test message {n} "
    return (text * (max(1, size_bytes - 170) // len(text) + 1))[: max(len(text), size_bytes - 170)]


class SenderUser(PollbenchUser):
    """Posts messages into the receivers' orders, alternately as the customer and as an admin."""

    traffic_kind = "senders"

    @task
    def run_sender(self) -> None:
        settings = self.ctx.settings
        index = self.ctx.register_sender()
        rng = random.Random(settings.seed * 7_919 + self.ctx.worker_index * 1_000_003 + index)
        admins = self.ctx.fixtures.admins
        conn = self.new_connection()
        as_admin: dict[str, bool] = {}
        started = self.ctx.recorder.started_at or time.time()
        stop_at = started + settings.send_for_s if settings.send_for_s > 0 else float("inf")
        due = time.time()
        n = 0
        while True:
            targets = self.ctx.sender_targets(index)
            if not targets:  # no receiver of ours has started yet
                gevent.sleep(0.1)
                due = time.time()
                continue
            # Poisson with the current rate: memoryless, so a rate that grows with the receivers is exact.
            due += rng.expovariate(self.ctx.sender_rate(len(targets)))
            if due >= stop_at:
                while True:  # silent for the rest of the run: the receivers drain
                    gevent.sleep(3600.0)
            gevent.sleep(max(0.0, due - time.time()))
            # Chosen after the sleep: receivers may have stopped meanwhile (a knee search stepping down),
            # and a message into an order nobody watches any more would never be delivered.
            targets = self.ctx.sender_targets(index)
            if not targets:
                continue
            customer, order_id = rng.choice(targets)
            admin_turn = as_admin.get(order_id, rng.random() < 0.5) and bool(admins)
            as_admin[order_id] = not admin_turn
            token = admins[n % len(admins)].token if admin_turn else customer.token
            n += 1
            self._post(conn, token, order_id, message_content(settings.message_bytes, n))

    def _post(self, conn: HttpConnection, token: str, order_id: str, content: str) -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        body = json.dumps({"orderId": order_id, "content": content}).encode()
        resp = self.http(
            conn, "POST", "/api/messages", name="/api/messages (post)", headers=headers, ok=(201,), body=body
        )
        if resp is None:
            return
        m = json.loads(resp.body)["message"]
        self.ctx.recorder.sent(
            str(m["orderId"]), int(m["seq"]), parse_created_at(m["createdAt"]), str(m["senderType"])
        )
