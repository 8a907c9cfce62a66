"""Fuzzing the live reference server from the OpenAPI document it serves (issue 6, section 4).

schemathesis loads ``/openapi.json`` from a real server on loopback and generates, for EVERY operation,
schema-valid (positive) and schema-violating (negative) requests: its deterministic boundary cases (edge
values, missing fields, undeclared methods) and then hypothesis-generated ones, derandomized (the number
of cases per operation is the same every run). Each case is sent as one of six callers: customer c1 (owns
o1, o2), customer c2 (another user), admin a1, no token, a tampered token and an expired one. Positive
cases aim their orderId at c1's order, c2's order, a missing one or keep the generated string, so the
authorization paths (200/403/404) are reached, not only "no such order".

What every case must show: no 5xx, an answer within ``HANG_S`` seconds, and the response conforming to the
document (status code documented, content type, body and header schemas; schema-valid requests not
refused with a 400, schema-violating ones not accepted).

Two endpoints never finish on their own, and are made fuzzable like this:

* long-poll ``/api/messages/wait``: a ``timeout`` the server would hold for is scaled by ``LONGPOLL_SCALE``
  (60 s becomes 0.2 s; shapes such as tiny fractions or the maximum survive) and the server's default
  hold is 0.2 s, so a held request ends by itself; anything the server must refuse is sent unchanged.
* SSE ``/api/stream``: the status line and headers are checked like any response, then only the first
  chunk of an event stream is read (the server's ``: connected`` comment) and the connection dropped.
  A stream that does not even send its headers within ``HANG_S`` is a hang.

``/ws`` is fuzzed as plain HTTP GETs (no upgrade): the auth check happens before the upgrade, so a bad
token is a JSON 401 and a good one the documented 400 "not an upgrade"; the WebSocket protocol itself
is covered by test_ws.py and test_authorization_scale.py.
"""

from __future__ import annotations

import collections
import json
import math
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from reference_server import TokenAuthority

SECRET = "fuzz-secret"
HANG_S = 5.0
"""An answer (or, for a stream, its headers) slower than this is a hang."""
LONGPOLL_SCALE = 0.2 / 60
"""Generated long-poll timeouts are scaled so the documented maximum (60 s) holds 0.2 s."""
EXAMPLES = {GenerationMode.POSITIVE: 90, GenerationMode.NEGATIVE: 55}
"""Cases per operation and mode (operations without parameters exhaust their space sooner)."""
MIN_CASES = 1000
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,  # the boundary cases also send DELETE, PATCH, TRACE ... to every path
    allow_header_conformance,
    missing_required_header,
]
MODE_CHECKS: dict[GenerationMode, list[CheckFunction]] = {
    GenerationMode.POSITIVE: [positive_data_acceptance],
    GenerationMode.NEGATIVE: [negative_data_rejection],
}
CALLERS = ("c1", "c2", "a1", "none", "tampered", "expired")
ORDER_AIMS = ("generated", "o1", "o3", "o404")
"""o1 is c1's order, o3 is c2's, o404 does not exist."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Live:
    """A server running in a subprocess."""

    base_url: str
    """http://127.0.0.1:PORT"""
    tokens: dict[str, str]
    """Caller name -> bearer token (absent for "none")."""
    log: Path
    """The server's stderr."""


@dataclass(slots=True)
class FuzzReport:
    """What the fuzz run saw."""

    cases: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)
    """(operation, mode, status) -> cases."""
    server_errors: list[str] = field(default_factory=list)
    """5xx answers and hangs, each with a curl repro."""
    nonconforming: list[str] = field(default_factory=list)
    """Answers that disagree with the OpenAPI document."""
    no_negative: list[str] = field(default_factory=list)
    """Operations for which no schema-violating request exists."""
    slowest_s: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def summary(self) -> str:
        statuses = collections.Counter(status for (_, _, status) in self.cases.elements())
        return (
            f"\nfuzz: {self.total} cases in {self.elapsed_s:.1f} s, slowest answer {self.slowest_s:.2f} s\n"
            f"  per operation: {json.dumps(self.per_operation())}\n"
            f"  statuses: {json.dumps(dict(sorted(statuses.items())))}\n"
            f"  seconds per operation and mode: {json.dumps(self.timing)}\n"
            f"  no schema-violating request exists for: {self.no_negative}"
        )

    def per_operation(self) -> dict[str, int]:
        out: collections.Counter[str] = collections.Counter()
        for (op, _, _), n in self.cases.items():
            out[op] += n
        return dict(out)


def _tokens() -> dict[str, str]:
    authority = TokenAuthority(SECRET)
    c1 = authority.issue(id="c1", role="customer", name="Customer 1", ttl_s=3600)
    return {
        "c1": c1,
        "c2": authority.issue(id="c2", role="customer", name="Customer 2", ttl_s=3600),
        "a1": authority.issue(id="a1", role="admin", name="Admin 1", ttl_s=3600),
        "tampered": c1[:-2] + ("AA" if not c1.endswith("AA") else "BB"),
        "expired": authority.issue(id="c1", role="customer", name="Customer 1", ttl_s=10, now=1000.0),
    }


SERVER = """
import json, sys
from reference_server import ServerConfig
from reference_server.runner import run, serve
config = ServerConfig(**json.loads(sys.argv[1]))
run(serve(config, host="127.0.0.1", port=0, announce=lambda url: print(url, flush=True)))
"""
"""A server process with a config no CLI flag reaches (the long-poll default hold)."""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The real app in its own process on a loopback socket: the fuzzer and the server use one core each,
    and the server's log shows any exception it handled."""
    workdir = tmp_path_factory.mktemp("fuzz")
    config = {
        "db_path": str(workdir / "chat.db"),
        "secret": SECRET,
        "seed_customers": 2,
        "orders_per_customer": 2,
        "seed_admins": 1,
        "messages_per_order": 2,
        "longpoll_default_s": 0.2,  # a long-poll without timeout is held this long, not 30 s
    }
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(config)], stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # EOF (""), if it died, fails the assert below
        assert url.startswith("http://127.0.0.1:"), f"the server did not start: {log_path.read_text()}"
        yield Live(base_url=url, tokens=_tokens(), log=log_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load_schema(base_url: str) -> Any:
    """The document the live server serves. Loaded as a dict: from_url would leave GET /openapi.json itself
    out of the operations. Auth comes from the callers above, not from generated headers; unknown query
    parameters are ignored by design (as by any HTTP server), so negative cases do not rely on them."""
    document = requests.get(f"{base_url}/openapi.json", timeout=HANG_S).json()
    config = schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": False, "allow-extra-parameters": False}}
    )
    return schemathesis.openapi.from_dict(document, config=config)


PLAIN_DECIMAL = re.compile(r"(?=.)[0-9]{0,6}(\.[0-9]{1,9})?")
"""What the server reads as a timeout (reference_server.params)."""


def _scaled_timeout(raw: object) -> object:
    """A timeout the server would hold for (a number, or a plain decimal string as the boundary cases send),
    scaled down; anything the server must refuse is left as generated."""
    if isinstance(raw, str) and PLAIN_DECIMAL.fullmatch(raw):
        value = float(raw)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        return raw
    if math.isfinite(value) and 0 < value <= 60:
        return f"{max(value * LONGPOLL_SCALE, 1e-3):.6f}"  # the server takes plain decimals only
    return raw


def shape(case: Any, mode: GenerationMode, caller: str, aim: str, tokens: dict[str, str]) -> dict[str, str]:
    """Point the case at a real order (positive cases only) and bound long-polls; return auth headers."""
    if case.operation.path == "/api/messages/wait" and case.query and "timeout" in case.query:
        case.query["timeout"] = _scaled_timeout(case.query["timeout"])
    if mode is GenerationMode.POSITIVE and aim != "generated":
        if case.query and isinstance(case.query.get("orderId"), str):
            case.query["orderId"] = aim
        elif case.query and isinstance(case.query.get("orderId"), list) and case.query["orderId"]:
            case.query["orderId"][0] = aim
        if isinstance(case.body, dict) and isinstance(case.body.get("orderId"), str):
            case.body["orderId"] = aim
    token = tokens.get(caller)
    return {"Authorization": f"Bearer {token}"} if token else {}


def send(case: Any, base_url: str, session: requests.Session, headers: dict[str, str]) -> Response:
    """One request; an event stream is read only up to its first chunk (it never ends by itself)."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    kwargs["timeout"] = HANG_S
    with session.request(**kwargs, stream=True, allow_redirects=False) as resp:
        if resp.headers.get("Content-Type", "").startswith("text/event-stream"):
            resp._content = next(resp.iter_content(chunk_size=None), b"")
        else:
            resp.content  # noqa: B018 -- read the whole body within the timeout
        return Response.from_requests(resp, verify=True)


def checks_for(label: str, mode: GenerationMode) -> list[CheckFunction]:
    checks = CHECKS + MODE_CHECKS[mode]
    if label == "GET /ws":  # the fuzzer speaks HTTP, not WebSocket: a valid /ws request still gets 400
        checks = [c for c in checks if c is not positive_data_acceptance]
    return checks


def run_case(
    case: Any,
    mode: GenerationMode,
    phase: str,
    caller: str,
    aim: str,
    live: Live,
    session: requests.Session,
    report: FuzzReport,
) -> None:
    """Send one case as ``caller`` and record its status and every failed check."""
    label = case.operation.label
    headers = shape(case, mode, caller, aim, live.tokens)
    started = time.monotonic()
    try:
        response = send(case, live.base_url, session, headers)
    except requests.RequestException as exc:  # a timeout or a dropped connection: the server hung/died
        curl = case.as_curl_command(headers=headers)
        report.server_errors.append(f"{label} [{phase}] {type(exc).__name__}: {curl}")
        return
    report.slowest_s = max(report.slowest_s, time.monotonic() - started)
    report.cases[(label, phase, response.status_code)] += 1
    try:
        case.validate_response(response, checks=checks_for(label, mode), headers=headers)
    except FailureGroup as exc:  # one or more checks failed
        target = report.server_errors if response.status_code >= 500 else report.nonconforming
        target.append(f"{label} [{phase}] as {caller}: {exc}")


def boundary_cases(
    schema: Any, operation: Any, live: Live, session: requests.Session, report: FuzzReport
) -> None:
    """schemathesis' coverage phase: deterministic edge values (empty, longest, smallest and largest
    allowed and one past them, every required field missing, wrong types) and every undeclared method.
    Callers and order aims rotate over the cases."""
    config = schema.config.generation_for(operation=operation)
    modes = list(EXAMPLES)
    for k, case in enumerate(
        schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config)
    ):
        mode = case.meta.generation.mode
        caller, aim = CALLERS[k % len(CALLERS)], ORDER_AIMS[k % len(ORDER_AIMS)]
        run_case(case, mode, f"boundary-{mode.value}", caller, aim, live, session, report)


def fuzz_operation(
    operation: Any, mode: GenerationMode, live: Live, session: requests.Session, report: FuzzReport
) -> None:
    label = operation.label

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        caller=st.sampled_from(CALLERS),
        aim=st.sampled_from(ORDER_AIMS),
    )
    def one(case: Any, caller: str, aim: str) -> None:
        run_case(case, mode, mode.value, caller, aim, live, session, report)

    try:
        one()
    except Unsatisfiable as exc:
        # Only a header-only operation (GET /api/orders: any If-None-Match string is valid) has no invalid
        # request to make; a positive case can always be made.
        if mode is GenerationMode.POSITIVE:
            raise AssertionError(f"{label}: no schema-valid case could be generated") from exc
        report.no_negative.append(label)


def has_inputs(operation: Any) -> bool:
    """Negative cases need something to break: a parameter or a body."""
    return bool(list(operation.iter_parameters())) or bool(operation.body)


@pytest.fixture(scope="module")
def fuzz(live: Live) -> FuzzReport:
    report = FuzzReport()
    schema = load_schema(live.base_url)
    started = time.monotonic()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            t0 = time.monotonic()
            boundary_cases(schema, operation, live, session, report)
            report.timing[f"{operation.label} boundary"] = round(time.monotonic() - t0, 2)
            for mode in EXAMPLES:
                if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
                    continue
                t0 = time.monotonic()
                fuzz_operation(operation, mode, live, session, report)
                report.timing[f"{operation.label} {mode.value}"] = round(time.monotonic() - t0, 2)
    report.elapsed_s = time.monotonic() - started
    print(report.summary())
    return report


def test_every_operation_gets_at_least_1000_cases_in_total(fuzz: FuzzReport, live: Live) -> None:
    documented = json.loads(requests.get(f"{live.base_url}/openapi.json", timeout=HANG_S).text)
    operations = {f"{m.upper()} {p}" for p, item in documented["paths"].items() for m in item}
    assert set(fuzz.per_operation()) == operations
    assert fuzz.total >= MIN_CASES


def test_no_case_gets_a_server_error_or_hangs(fuzz: FuzzReport) -> None:
    assert fuzz.server_errors == [], "\n\n".join(fuzz.server_errors[:5])
    assert fuzz.slowest_s < HANG_S


def test_every_answer_conforms_to_the_document(fuzz: FuzzReport) -> None:
    assert fuzz.nonconforming == [], f"{len(fuzz.nonconforming)} failures:\n\n" + "\n\n".join(
        fuzz.nonconforming[:5]
    )


def test_authorization_paths_are_reached(fuzz: FuzzReport) -> None:
    statuses = {status for (op, _, status) in fuzz.cases if op == "GET /api/messages"}
    assert {200, 401, 403, 404} <= statuses


def test_server_logged_no_unhandled_exception(fuzz: FuzzReport, live: Live) -> None:
    assert fuzz.total >= MIN_CASES  # after the run
    log = live.log.read_text()
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]


def test_server_is_healthy_and_serves_a_post_and_get_afterwards(fuzz: FuzzReport, live: Live) -> None:
    assert fuzz.total >= MIN_CASES  # after the run
    assert requests.get(f"{live.base_url}/healthz", timeout=HANG_S).status_code == 200
    auth = {"Authorization": f"Bearer {live.tokens['c1']}"}
    posted = requests.post(
        f"{live.base_url}/api/messages",
        json={"orderId": "o2", "content": "after the fuzz"},
        headers=auth,
        timeout=HANG_S,
    )
    assert posted.status_code == 201
    seq = posted.json()["message"]["seq"]
    got = requests.get(
        f"{live.base_url}/api/messages", params={"orderId": "o2"}, headers=auth, timeout=HANG_S
    ).json()
    assert [m["seq"] for m in got["messages"]][-1] == seq
    assert got["messages"][-1]["content"] == "after the fuzz"


def test_the_documented_timeout_pattern_is_exactly_what_the_server_takes() -> None:
    """The fuzzer trusts the document; here the one hand-built pattern is checked against the parser."""
    from reference_server.errors import ApiError
    from reference_server.openapi import TIMEOUT_PATTERN
    from reference_server.params import parse_timeout

    def taken(raw: str) -> bool:
        try:
            parse_timeout(raw, default=30, maximum=60)
        except ApiError:
            return False
        return True

    rng = random.Random(6)
    edges = ["60", "60.000000000", "60.1", "000060", "0000060", "0", ".5", "5.", "0.000000001", "1e1", ""]
    samples = edges + ["".join(rng.choices("0123456789.", k=rng.randint(1, 14))) for _ in range(20_000)]
    pattern = re.compile(TIMEOUT_PATTERN)
    disagree = [raw for raw in samples if (pattern.fullmatch(raw) is not None) != taken(raw)]
    assert disagree == []
    assert sum(map(taken, samples)) > 1000  # both sides of the boundary were sampled
