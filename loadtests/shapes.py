"""The capacity search's load shape: add clients step by step until a step breaks the SLO.

Load it next to the locustfile (``locust -f loadtests/locustfile.py,loadtests/shapes.py``; ``pollbench
capacity --mode measure`` does). Every ``--step-seconds`` the shape judges the step that just ended
(:func:`loadtests.steps.judge_step`: p99 delivery latency of the messages committed in the step's
window, failure ratio, server CPU from ``/metrics``, Locust's own CPU), appends the verdict to
``RAW_DIR/steps.jsonl`` and either adds ``--step-users`` receiving clients or stops the test. Steps are
judged from this process's exact records, so the search runs in one Locust process (no workers).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from locust import LoadTestShape, events

from loadtests.context import LoadContext, current_context
from loadtests.server_metrics import scrape
from loadtests.steps import StepLimits, drain_seconds, judge_step

__all__ = ["StepShape"]


def _add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("pollbench capacity steps")
    g.add_argument("--step-users", type=int, default=100, help="receiving clients added per step")
    g.add_argument("--step-seconds", type=float, default=30.0, help="length of one step, seconds")
    g.add_argument("--max-steps", type=int, default=10, help="stop after this many steps even if all pass")
    g.add_argument("--slo-p99", type=float, default=5.0, help="p99 delivery latency bound of a step, s")
    g.add_argument("--max-fail-ratio", type=float, default=0.01, help="failed-request share bound of a step")
    g.add_argument("--slo-utilization", type=float, default=0.9, help="server CPU busy-fraction bound")
    g.add_argument("--step-spawn-rate", type=float, default=50.0, help="users started per second in a step")


class StepShape(LoadTestShape):
    """Senders first, then ``step_users`` more receivers per step, while the steps pass."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.step = 0
        self.step_started = 0.0
        self.cpu_mark: tuple[float, float] | None = None
        self.traffic_mark = (0, 0)

    def _options(self) -> Any:
        assert self.runner is not None and self.runner.environment.parsed_options is not None
        return self.runner.environment.parsed_options

    def _users(self, step: int) -> int:
        from loadtests.users import AdminPanelUser, SenderUser

        return SenderUser.fixed_count + AdminPanelUser.fixed_count + step * int(self._options().step_users)

    def tick(self) -> tuple[int, float] | None:
        o = self._options()
        now = time.time()
        if self.step == 0:
            self._begin_step(now, None)
            return self._users(1), float(o.step_spawn_rate)
        if now - self.step_started < float(o.step_seconds):
            return self._users(self.step), float(o.step_spawn_rate)
        ctx = current_context()
        verdict = self._judge(ctx, now)
        if not verdict["ok"] or self.step >= int(o.max_steps):
            return None
        self._begin_step(now, ctx)
        return self._users(self.step), float(o.step_spawn_rate)

    def _begin_step(self, now: float, ctx: LoadContext | None) -> None:
        self.step += 1
        self.step_started = now
        sample = scrape(self.runner.environment.host or "") if self.runner else None
        self.cpu_mark = None if sample is None else (now, sample.cpu_seconds)
        if ctx is not None:
            t = ctx.recorder
            self.traffic_mark = (
                t.receivers.requests + t.senders.requests,
                t.receivers.failures + t.senders.failures,
            )

    def _judge(self, ctx: LoadContext, now: float) -> dict[str, Any]:
        o = self._options()
        rec = ctx.recorder
        rec.keep_in_memory = True
        warmup = min(float(o.step_seconds) / 3, int(o.step_users) / float(o.step_spawn_rate) + 1.0)
        tail = drain_seconds(ctx.settings.strategy, ctx.settings.hidden_fraction)
        sample = scrape(self.runner.environment.host or "") if self.runner else None
        util = math.nan
        if sample is not None and self.cpu_mark is not None and now > self.cpu_mark[0]:
            util = (sample.cpu_seconds - self.cpu_mark[1]) / (now - self.cpu_mark[0])
        requests = rec.receivers.requests + rec.senders.requests - self.traffic_mark[0]
        failures = rec.receivers.failures + rec.senders.failures - self.traffic_mark[1]
        verdict = judge_step(
            step=self.step,
            users=self._users(self.step) - self._users(0),
            window=(self.step_started + warmup, now - tail),
            step_end=now,
            sent=rec.sent_log,
            delivered=rec.delivered_log,
            requests=requests,
            failures=failures,
            server_utilization=util,
            generator_cpu_percent=float(self.runner.current_cpu_usage) if self.runner else 0.0,
            limits=StepLimits(
                p99_s=float(o.slo_p99),
                fail_ratio=float(o.max_fail_ratio),
                server_utilization=float(o.slo_utilization),
            ),
        ).to_dict()
        if ctx.settings.raw_dir is not None:
            with (ctx.settings.raw_dir / "steps.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(verdict) + "\n")
        return verdict


def _keep_records(environment: Any, **_: Any) -> None:
    # Record in memory from the first message on: the first step is judged like every other.
    try:
        current_context().recorder.keep_in_memory = True
    except RuntimeError:
        pass


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.init_command_line_parser, _add_arguments)
_listen(events.test_start, _keep_records)
