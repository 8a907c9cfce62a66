"""One real audit, end to end and fast: six strategies, 12 orders, 200 messages in a few seconds, the
server SIGKILLed at least once mid-traffic; nothing acknowledged may be lost or shown twice."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from loadtests.audit.config import AuditConfig
from loadtests.audit.run import AuditResult, Snapshot, run_audit
from pollbench.strategies import parse_strategies

STRATEGIES = "poll:1,seed-dashboard:1,adaptive:min=0.5,max=2,longpoll:5,sse,ws"
CONFIG = AuditConfig(
    strategies=parse_strategies(STRATEGIES), orders=12, orders_per_customer=2, messages=200,
    duration_s=5.0, kill_every_s=2.5, drain_s=30.0, seed=7,
)  # fmt: skip


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, list[Snapshot]]:
    snapshots: list[Snapshot] = []
    config = dataclasses.replace(CONFIG, workdir=tmp_path_factory.mktemp("audit"))
    return asyncio.run(run_audit(config, on_progress=snapshots.append)), snapshots


def test_nothing_acknowledged_is_lost_across_a_kill(audited: tuple[AuditResult, list[Snapshot]]) -> None:
    result, _ = audited
    verdict = result.to_json()
    assert result.server_restarts >= 1
    assert verdict["acknowledged"] > 0
    counts = (verdict["lost"], verdict["duplicated"], verdict["out_of_order"], verdict["foreign"])
    assert counts == (0, 0, 0, 0)
    assert result.passed and result.drained


def test_every_strategy_delivered_every_acknowledged_message(
    audited: tuple[AuditResult, list[Snapshot]],
) -> None:
    result, _ = audited
    per = result.reconciliation.per_strategy
    assert list(per) == [s.spec for s in CONFIG.strategies]
    assert {spec: t.delivered for spec, t in per.items()} == dict.fromkeys(
        per, result.reconciliation.acknowledged
    )
    assert all(t.subscribers == CONFIG.customers for t in per.values())


def test_the_kill_really_cut_traffic(audited: tuple[AuditResult, list[Snapshot]]) -> None:
    """The crash happened under load: receivers had to recover from failures."""
    result, _ = audited
    assert result.receiver_retries > 0
    assert result.receivers == CONFIG.customers * len(CONFIG.strategies)


def test_progress_was_reported_through_every_phase(
    audited: tuple[AuditResult, list[Snapshot]],
) -> None:
    _, snapshots = audited
    phases = list(dict.fromkeys(s.phase for s in snapshots))
    assert phases[-1] == "reconciling" and "sending" in phases
    assert snapshots[-1].delivered >= snapshots[-1].expected


def test_hot_cursor_polls_miss_nothing_while_posts_are_group_committed(tmp_path: Path) -> None:
    """seq is assigned at commit and posts commit in groups: a poller asking ``since=CURSOR`` 20 times a
    second on two busy orders must still see every message (no seq may appear below a cursor it passed)."""
    config = AuditConfig(
        strategies=parse_strategies("poll:0.05,longpoll:2"), orders=2, orders_per_customer=2, messages=600,
        duration_s=3.0, drain_s=10.0, seed=11, workdir=tmp_path,
    )  # fmt: skip
    result = asyncio.run(run_audit(config))
    assert result.reconciliation.acknowledged == 600
    assert result.passed
    assert all(t.deduplicated == 0 for t in result.reconciliation.per_strategy.values())
