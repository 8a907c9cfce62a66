"""One loss audit from start to verdict.

1. Start ``pollbench serve`` on a free loopback port, seeded with the customers whose orders are audited.
2. Start the receivers: for every strategy, one client per customer, so every order is watched once by
   every strategy.
3. Sending phase (at most ``duration_s``): the senders post the planned messages at a steady rate while
   the killer SIGKILLs and restarts the server on schedule. Posts cut off by a kill are retried.
4. Drain: the server stays up and the receivers catch up, until every receiver holds every acknowledged
   message of its orders or the drain deadline passes.
5. Stop everything (the server too, always) and reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.audit.clients import Receiver, make_receiver
from loadtests.audit.config import AuditConfig
from loadtests.audit.killer import Killer
from loadtests.audit.reconcile import Reconciliation, SubscriberLog, reconcile
from loadtests.audit.senders import Ack, Senders, plan_posts
from loadtests.audit.server import AttachedServer, AuditServer, AuditServerError, ServerSpec, free_port

__all__ = ["AuditResult", "Snapshot", "run_audit", "run_audit_blocking"]

PROGRESS_EVERY_S = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Where a running audit stands, for a progress display."""

    phase: str
    """starting, sending, draining or reconciling."""
    planned: int
    """Messages in the plan."""
    acknowledged: int
    """Posts acknowledged so far."""
    delivered: int
    """Messages handed to receivers' applications so far (all strategies)."""
    expected: int
    """acknowledged x strategies: what delivered reaches when every receiver is caught up."""
    restarts: int
    """Server kills so far."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditResult:
    """The verdict plus what it took to get it."""

    reconciliation: Reconciliation
    """Acknowledged against delivered, per strategy."""
    server_restarts: int
    """SIGKILLs followed by a restart."""
    server_down_s: float
    """Seconds the server spent dead or starting, summed over restarts."""
    orders: int
    """Orders posted to."""
    planned: int
    """Messages in the plan."""
    attempted: int
    """Posts started (fewer than planned if the sending phase ran out of time)."""
    abandoned: int
    """Posts that never got a 201 within the retry grace."""
    rejected: int
    """Posts refused with a 4xx."""
    sender_retries: int
    """POST attempts that failed (mostly killed by the crash) and were retried."""
    receivers: int
    """Receiving clients over all strategies."""
    receiver_retries: int
    """Failed requests and dropped streams the receivers recovered from."""
    drained: bool
    """True when every receiver caught up before the drain deadline."""
    sending_s: float
    """Length of the sending phase."""
    drain_s: float
    """Length of the drain."""
    duration_s: float
    """Wall-clock length of the whole audit."""

    @property
    def passed(self) -> bool:
        """Something was acknowledged and none of it was lost, duplicated, reordered or leaked."""
        return self.reconciliation.acknowledged > 0 and self.reconciliation.clean

    def to_json(self) -> dict[str, Any]:
        verdict = self.reconciliation.to_json()
        return {
            "acknowledged": verdict["acknowledged"],
            "lost": verdict["lost"],
            "duplicated": verdict["duplicated"],
            "out_of_order": verdict["out_of_order"],
            "server_restarts": self.server_restarts,
            "per_strategy": verdict["per_strategy"],
            "foreign": verdict["foreign"],
            "resent_copies": verdict["resent_copies"],
            "orders": self.orders,
            "planned": self.planned,
            "attempted": self.attempted,
            "abandoned": self.abandoned,
            "rejected": self.rejected,
            "sender_retries": self.sender_retries,
            "receivers": self.receivers,
            "receiver_retries": self.receiver_retries,
            "drained": self.drained,
            "server_down_s": round(self.server_down_s, 3),
            "sending_s": round(self.sending_s, 3),
            "drain_s": round(self.drain_s, 3),
            "duration_s": round(self.duration_s, 3),
            "examples": verdict["examples"],
        }


@contextlib.asynccontextmanager
async def _workdir(config: AuditConfig) -> AsyncIterator[Path]:
    if config.workdir is not None:
        config.workdir.mkdir(parents=True, exist_ok=True)
        yield config.workdir
        return
    with tempfile.TemporaryDirectory(prefix="pollbench-audit-") as tmp:
        yield Path(tmp)


def build_receivers(
    config: AuditConfig,
    fixtures: dict[str, Any],
    *,
    base_url: str,
    session: aiohttp.ClientSession,
    rng: random.Random,
    contents: dict[int, str],
) -> list[Receiver]:
    """One receiver per customer per strategy, all noting message texts in ``contents``."""
    watched = set(audited_orders(config, fixtures))
    customers = [c for c in fixtures["customers"] if watched & {str(o) for o in c["orders"]}]
    return [
        make_receiver(
            strategy,
            customer_id=str(customer["id"]),
            token=str(customer["token"]),
            order_ids=tuple(str(o) for o in customer["orders"]),
            base_url=base_url,
            session=session,
            backoff=config.backoff,
            rng=random.Random(rng.getrandbits(64)),
            contents=contents,
        )
        for strategy in config.strategies
        for customer in customers
    ]


def audited_orders(config: AuditConfig, fixtures: dict[str, Any]) -> list[str]:
    """The first ``config.orders`` orders of the fixtures' customers (o1..oN on the audit's own server)."""
    orders = [str(o) for c in fixtures["customers"] for o in c["orders"]]
    if len(orders) < config.orders:
        raise AuditServerError(
            f"the fixtures hold {len(orders)} orders, fewer than the {config.orders} to audit "
            "(seed more customers or pass a smaller --orders)"
        )
    if not fixtures.get("admins"):
        raise AuditServerError("the fixtures have no admin (half the messages are posted as an admin)")
    return orders[: config.orders]


class _Audit:
    """The state of one running audit (see the module docstring for its phases)."""

    def __init__(
        self,
        config: AuditConfig,
        server: AuditServer | AttachedServer,
        on_progress: Callable[[Snapshot], None],
    ):
        self.config = config
        self.server = server
        self.on_progress = on_progress
        self.rng = random.Random(config.seed)
        self.phase = "starting"
        self.receivers: list[Receiver] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.contents: dict[int, str] = {}
        self.senders: Senders | None = None

    def snapshot(self) -> Snapshot:
        acked = len(self.senders.acks) if self.senders else 0
        return Snapshot(
            phase=self.phase,
            planned=self.config.messages,
            acknowledged=acked,
            delivered=sum(len(r.inbox.log) for r in self.receivers),
            expected=acked * len(self.config.strategies),
            restarts=self.server.restarts,
        )

    async def report_progress(self) -> None:
        while True:
            self.on_progress(self.snapshot())
            await asyncio.sleep(PROGRESS_EVERY_S)

    async def send(self, fixtures: dict[str, Any], session: aiohttp.ClientSession) -> float:
        """The sending phase, with the killer running alongside; returns its length."""
        cfg = self.config
        order_ids = audited_orders(cfg, fixtures)
        owners = {o: str(c["token"]) for c in fixtures["customers"] for o in c["orders"]}
        posts = plan_posts(
            messages=cfg.messages,
            order_ids=order_ids,
            customer_tokens=owners,
            admin_tokens=[str(a["token"]) for a in fixtures["admins"]],
            rng=self.rng,
        )
        self.senders = Senders(
            posts=posts, base_url=self.server.base_url, session=session, backoff=cfg.backoff,
            rng=random.Random(self.rng.getrandbits(64)), rate_per_s=cfg.rate_per_s, concurrency=cfg.senders,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop_new_at = started + cfg.duration_s
        killer = (
            Killer(self.server, every_s=cfg.kill_every_s)
            if cfg.kill_every_s and isinstance(self.server, AuditServer)
            else None
        )
        self.phase = "sending"
        try:
            # One group: a restart that fails (the server no longer starts) cancels the sending at once
            # instead of letting every post retry into a dead port until the grace runs out.
            async with asyncio.TaskGroup() as group:
                if killer is not None:
                    group.create_task(killer.run())
                    # Crashes only while sending: posts still retrying after that, and the drain, need the
                    # server up (the killer returns once its restart in progress, if any, is done).
                    loop.call_at(stop_new_at, killer.stop)
                await self.senders.run(stop_new_at=stop_new_at, give_up_at=stop_new_at + cfg.retry_grace_s)
                if killer is not None:
                    killer.stop()
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return loop.time() - started

    def caught_up(self, acks: list[Ack]) -> bool:
        by_order: dict[str, list[int]] = {}
        for ack in acks:
            by_order.setdefault(ack.order_id, []).append(ack.seq)
        return all(
            r.inbox.holds(order_id, by_order.get(order_id, ()))
            for r in self.receivers
            for order_id in r.inbox.order_ids
        )

    async def drain(self) -> tuple[bool, float]:
        """Wait for the receivers to catch up; (caught up?, seconds waited)."""
        assert self.senders is not None
        self.phase = "draining"
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.config.drain_s
        while not self.caught_up(self.senders.acks):
            self.raise_crashed()
            if loop.time() >= deadline:
                return False, loop.time() - started
            await asyncio.sleep(0.2)
        return True, loop.time() - started

    async def run_clients(self, fixtures: dict[str, Any]) -> tuple[float, bool, float]:
        """Receivers, then senders (and killer), then the drain; (sending s, caught up?, drain s)."""
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as receiving,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as sending,
        ):
            self.receivers = build_receivers(
                self.config,
                fixtures,
                base_url=self.server.base_url,
                session=receiving,
                rng=self.rng,
                contents=self.contents,
            )
            self.tasks = [asyncio.create_task(r.run(), name=r.name) for r in self.receivers]
            progress = asyncio.create_task(self.report_progress())
            try:
                sending_s = await self.send(fixtures, sending)
                drained, drain_s = await self.drain()
                self.raise_crashed()
            finally:
                # Cancelled inside the sessions: a receiver must never see its session closed under it.
                for task in [*self.tasks, progress]:
                    task.cancel()
                await asyncio.gather(*self.tasks, progress, return_exceptions=True)
        return sending_s, drained, drain_s

    def raise_crashed(self) -> None:
        """A receiver that died of anything but a retryable failure is a harness bug: stop and say so."""
        for task in self.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"receiver {task.get_name()} crashed") from task.exception()

    def verdict(self) -> Reconciliation:
        assert self.senders is not None
        self.phase = "reconciling"
        logs = [
            SubscriberLog(
                strategy=r.strategy.spec,
                subscriber=r.name,
                order_ids=r.inbox.order_ids,
                log=r.inbox.log,
                deduplicated=r.inbox.deduplicated,
                foreign=r.inbox.foreign,
            )
            for r in self.receivers
        ]
        return reconcile(self.senders.acks, logs, contents=self.contents)


def run_audit_blocking(
    config: AuditConfig,
    *,
    on_progress: Callable[[Snapshot], None] = lambda snapshot: None,
    on_server: Callable[[AuditServer], None] = lambda server: None,
) -> AuditResult:
    """:func:`run_audit` on a fresh event loop, uvloop when installed: the audit's own side (hundreds of
    Python clients) is the busier process, and a lagging client loop would stretch every restart."""
    main = run_audit(config, on_progress=on_progress, on_server=on_server)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every platform we run on
        return asyncio.run(main)
    return uvloop.run(main)


async def run_audit(
    config: AuditConfig,
    *,
    on_progress: Callable[[Snapshot], None] = lambda snapshot: None,
    on_server: Callable[[AuditServer], None] = lambda server: None,
) -> AuditResult:
    """Run one audit; the server subprocess is stopped however this ends (``on_server`` lets a caller
    keep a handle for a last-resort kill)."""
    began = time.monotonic()
    async with _workdir(config) as workdir:
        spec = ServerSpec(
            workdir=workdir, port=free_port(), customers=config.customers,
            orders_per_customer=config.orders_per_customer,
        )  # fmt: skip
        server: AuditServer | AttachedServer = (
            AttachedServer(config.host, config.fixtures)
            if config.host is not None and config.fixtures is not None
            else AuditServer(spec)
        )
        if isinstance(server, AuditServer):
            on_server(server)
        audit = _Audit(config, server, on_progress)
        try:
            await server.start()
            sending_s, drained, drain_s = await audit.run_clients(server.fixtures())
        finally:
            await server.stop()
        reconciliation = audit.verdict()
        on_progress(audit.snapshot())
    senders = audit.senders
    assert senders is not None
    return AuditResult(
        reconciliation=reconciliation,
        server_restarts=server.restarts,
        server_down_s=server.down_s,
        orders=config.orders,
        planned=config.messages,
        attempted=senders.started,
        abandoned=senders.abandoned,
        rejected=sum(senders.rejected.values()),
        sender_retries=sum(senders.failed_attempts.values()),
        receivers=len(audit.receivers),
        receiver_retries=sum(sum(r.failures.values()) for r in audit.receivers),
        drained=drained,
        sending_s=sending_s,
        drain_s=drain_s,
        duration_s=time.monotonic() - began,
    )
