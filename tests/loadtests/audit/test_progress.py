"""The verdict table: one row per strategy plus totals, PASS/FAIL in the caption, findings listed."""

from __future__ import annotations

import io

from rich.console import Console

from loadtests.audit.inbox import Delivery
from loadtests.audit.progress import print_table
from loadtests.audit.reconcile import SubscriberLog, reconcile
from loadtests.audit.run import AuditResult
from loadtests.audit.senders import Ack


def _result(*delivered: int, attempted: int = 2) -> AuditResult:
    acks = [Ack(index=0, order_id="o1", seq=1), Ack(index=1, order_id="o1", seq=2)]
    log = [Delivery(order_id="o1", seq=s) for s in delivered]
    sub = SubscriberLog(strategy="sse", subscriber="sse/c1", order_ids=("o1",), log=log)
    return AuditResult(
        reconciliation=reconcile(acks, [sub]), server_restarts=3, server_down_s=4.0, orders=1, planned=2,
        attempted=attempted, abandoned=0, rejected=0, sender_retries=5, receivers=1, receiver_retries=7,
        drained=True, sending_s=10.0, drain_s=1.0, duration_s=12.0,
    )  # fmt: skip


def _render(result: AuditResult) -> str:
    out = io.StringIO()
    print_table(result, Console(file=out, width=140))
    return out.getvalue()


def test_a_clean_run_reads_pass_with_its_restarts() -> None:
    text = _render(_result(1, 2))
    assert "2 acknowledged, 3 server restarts" in text
    assert "PASS" in text and "sse" in text


def test_a_lost_message_reads_fail_and_is_named() -> None:
    text = _render(_result(1))
    assert "FAIL" in text
    assert "lost: sse/c1 order o1 seq 2" in text


def test_an_unfinished_plan_is_pointed_out() -> None:
    assert "only 1 of 2 planned messages" in _render(_result(1, 2, attempted=1))
