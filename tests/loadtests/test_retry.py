"""loadtests.users.retry: Locust users retry and reconnect per THE backoff policy (pollbench.reconnect)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import pytest

from loadtests.users.retry import Retry, client_rng
from pollbench.reconnect import DEFAULT_BACKOFF, Backoff


def _expected(policy: Backoff, rng: random.Random, attempts: range) -> list[float]:
    return [policy.delay(n, rng) for n in attempts]


def test_consecutive_failures_wait_the_policy_delays_of_attempts_0_1_2() -> None:
    slept: list[float] = []
    retry = Retry(client_rng(7, 3), slept.append)
    delays = [retry.wait() for _ in range(8)]
    assert delays == slept == _expected(DEFAULT_BACKOFF, client_rng(7, 3), range(8))
    assert all(0.0 <= d <= DEFAULT_BACKOFF.ceiling(n) for n, d in enumerate(delays))


def test_a_success_resets_the_count_so_the_next_failure_waits_the_first_ceiling_again() -> None:
    policy = Backoff(initial_s=1.0, factor=2.0, cap_s=8.0, jitter=False)
    slept: list[float] = []
    retry = Retry(random.Random(1), slept.append, policy)
    for _ in range(4):
        retry.wait()
    retry.succeeded()
    retry.wait()
    assert slept == [1.0, 2.0, 4.0, 8.0, 1.0]


def test_pending_is_true_from_a_failure_until_a_success() -> None:
    retry = Retry(random.Random(1), lambda _s: None)
    assert not retry.pending
    retry.wait()
    assert retry.pending
    retry.succeeded()
    assert not retry.pending


def test_jitter_of_many_retries_is_uniform_under_each_ceiling() -> None:
    """Mean delay / ceiling of full jitter is 1/2; 4 000 draws put the mean within 4 sd = 4*sqrt(1/12/n)."""
    n = 4000
    retry = Retry(random.Random(5), lambda _s: None)
    ratios = []
    for _ in range(n):
        attempt = retry.attempt
        ratios.append(retry.next_delay() / DEFAULT_BACKOFF.ceiling(attempt))
        if retry.attempt == 6:
            retry.succeeded()
    assert sum(ratios) / n == pytest.approx(0.5, abs=4 * (1 / 12 / n) ** 0.5)


_USERS_AGAINST_A_DEAD_PORT = textwrap.dedent(
    """
    import json, socket, sys
    from locust.env import Environment  # gevent-patches this subprocess only
    import gevent
    from loadtests.context import LoadContext, Settings, set_context
    from loadtests.fixtures import Customer, Fixtures
    from loadtests.users import LongPollUser, PollingUser
    from pollbench.strategies import parse_strategy

    dead = socket.socket()  # bound, never listening: every connect is refused on loopback
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    slept = []

    class Enough(Exception):
        pass

    def record(seconds):
        slept.append(seconds)
        if len(slept) == 6:
            raise Enough

    gevent.sleep = record  # the users pass gevent.sleep to their Retry when they start
    customer = Customer(id="c0", name="c0", token="t", orders=("o1", "o2"))
    out = {}
    for spec, cls in (("poll:3", PollingUser), ("longpoll", LongPollUser)):
        settings = Settings(strategy=parse_strategy(spec), message_interval_s=1.0, receivers=1,
                            customers_per_sender=10, send_for_s=0.0, raw_dir=None, seed=7,
                            hidden_fraction=0.0, max_connections=2, message_bytes=300)
        fixtures = Fixtures(base_url=f"http://127.0.0.1:{port}", customers=(customer,), admins=())
        set_context(LoadContext(settings=settings, fixtures=fixtures, host="", worker_index=0, workers=1))
        user = cls(Environment(user_classes=[cls]))
        slept.clear()
        try:
            user.on_start()  # poll:3 loads the page here, and retries it
            user._wait_loop("o1", 30.0)  # longpoll: one order's wait loop, reconnecting
        except Enough:
            pass
        out[spec] = {"index": user.index, "slept": list(slept)}
    print(json.dumps(out))
    """
)


def test_users_refused_by_the_server_retry_with_the_policy_and_their_seeded_jitter() -> None:
    """Real users, real refused connects on loopback: the page load (poll:3) and a long-poll loop back off
    exactly as DEFAULT_BACKOFF with the client's seeded stream says."""
    done = subprocess.run(
        [sys.executable, "-c", _USERS_AGAINST_A_DEAD_PORT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for spec in ("poll:3", "longpoll"):
        got = out[spec]
        assert got["slept"] == _expected(DEFAULT_BACKOFF, client_rng(7, got["index"]), range(6)), spec
