"""What one Locust process knows about the load test it is part of.

A :class:`LoadContext` is built when a test starts (on a worker: after the master has sent its custom
arguments) from :class:`Settings` (the locustfile's custom command-line arguments), the fixtures file and
this process's place among the workers. Users ask it for their customer (receivers) or their block of
orders (senders) and record into its :class:`~loadtests.recorder.Recorder`.

Distributing clients: with ``W`` workers, worker ``i`` gives its ``k``-th receiver customer ``i + k*W``,
so the workers together cover customers ``0..N-1`` without talking to each other (Locust's dispatcher
spreads each user class evenly, so this is exact for one process and off by a client or two per worker
otherwise). Senders post only into the orders of receivers running in their own process, split among
that process's senders: the message rate follows the receivers that are actually there, on every
worker and at every step of a ramp.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.fixtures import Customer, Fixtures
from loadtests.recorder import Recorder
from pollbench.strategies import Strategy

__all__ = ["LoadContext", "Settings", "current_context", "set_context"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The locustfile's custom arguments, parsed."""

    strategy: Strategy
    """The receivers' delivery strategy."""
    message_interval_s: float
    """Mean seconds between messages in one order (Poisson)."""
    receivers: int
    """Receiving clients in the whole test (customers 0..receivers-1); senders post only to their orders."""
    customers_per_sender: int
    """Customers whose orders one sender user serves."""
    send_for_s: float
    """Senders post this long after the test starts, then fall silent so receivers drain (0 = always)."""
    raw_dir: Path | None
    """Directory for this process's raw records (None: do not write them)."""
    seed: int
    """Seed of every random stream (phases, Poisson gaps, hidden tabs)."""
    hidden_fraction: float
    """Share of adaptive clients whose tab is hidden for the whole run."""
    max_connections: int
    """Connections one polling client may hold at once (overlapping setInterval ticks)."""
    message_bytes: int
    """Approximate size of one message's JSON, bytes (sets the content length senders post)."""
    min_message_rate: float = 0.0
    """Messages per second all senders together post at least, whatever ``message_interval_s`` gives
    (a knee search's probes need enough latency samples under a quiet workload); 0: no floor."""

    def senders(self, workers: int = 1) -> int:
        """Sender users for the receivers: one per block of customers, and at least one per worker."""
        return max(1, workers, math.ceil(self.receivers / self.customers_per_sender))


class LoadContext:
    """Per-process state shared by all users of this process."""

    def __init__(
        self, *, settings: Settings, fixtures: Fixtures, host: str, worker_index: int, workers: int
    ) -> None:
        self.settings = settings
        self.fixtures = fixtures
        url = urlsplit(host or fixtures.base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.worker_index = worker_index
        self.workers = max(1, workers)
        self.recorder = Recorder(strategy=settings.strategy.spec, raw_dir=settings.raw_dir)
        self._receiver_counter = itertools.count()
        self._customer_counter = itertools.count()
        self._released: list[Customer] = []
        self._changes = 0
        """Receivers registered or unregistered so far: the senders' cached targets are this old."""
        self.active: list[Customer] = []
        """Customers of the receivers running in this process, in start order."""
        self.senders_here = 0
        self._targets: dict[int, list[tuple[Customer, str]]] = {}
        self._targets_key = (0, 0)

    def _global_index(self, counter: itertools.count[int]) -> int:
        return self.worker_index + next(counter) * self.workers

    def next_receiver(self) -> tuple[int, Customer]:
        """The next receiving client's global index and customer: a customer whose receiver stopped is
        handed out again before a new one, so a run whose client count goes down and up (a knee search)
        never gives one customer two clients while unused customers remain."""
        index = self._global_index(self._receiver_counter)
        if self._released:
            return index, self._released.pop()
        fresh = self._global_index(self._customer_counter)
        customers = self.fixtures.customers
        return index, customers[fresh % min(len(customers), self.settings.receivers)]

    def register_receiver(self, customer: Customer) -> None:
        """A receiver of this process has started; senders here now post into its orders."""
        self.active.append(customer)
        self._changes += 1

    def unregister_receiver(self, customer: Customer) -> None:
        """A receiver of this process has stopped: senders no longer post into its orders."""
        try:
            self.active.remove(customer)
        except ValueError:
            return
        self._changes += 1
        self._released.append(customer)

    def register_sender(self) -> int:
        """A sender of this process has started; returns its local index."""
        self.senders_here += 1
        return self.senders_here - 1

    def sender_rate(self, targets: int) -> float:
        """Messages per second one local sender posts into `targets` orders: the per-order rate, or its
        share of the run's floor (``min_message_rate`` over every sender of every process)."""
        floor = self.settings.min_message_rate / (self.workers * max(1, self.senders_here))
        return max(targets / self.settings.message_interval_s, floor)

    def sender_targets(self, index: int) -> list[tuple[Customer, str]]:
        """(customer, order) pairs local sender `index` posts into: every n-th local receiver's orders."""
        key = (self._changes, self.senders_here)
        if key != self._targets_key:
            self._targets, self._targets_key = {}, key
        if index not in self._targets:
            n = max(1, self.senders_here)
            mine = self.active[index % n :: n]
            self._targets[index] = [(c, order) for c in mine for order in c.orders]
        return self._targets[index]


_CONTEXT: list[LoadContext] = []


def set_context(context: LoadContext) -> None:
    """Install the context of the test that is starting in this process."""
    _CONTEXT[:] = [context]


def current_context() -> LoadContext:
    """The context of the running test; users call it in on_start."""
    if not _CONTEXT:
        raise RuntimeError(
            "pollbench load context not initialised: run users through loadtests/locustfile.py"
        )
    return _CONTEXT[0]
