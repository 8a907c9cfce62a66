"""reports.findings: the seed's claims and the recommendation, for the planning workload and from knees."""

from pollbench.workload import AGREEMENT_WORKLOAD
from reports.findings import RecommendConfig, recommend, seed_claims
from reports.planning import NO_KNEE, PlanConfig
from tests.reports.helpers import knee, knees_of, result_set

_CFG = RecommendConfig(latency_target_s=3.0, users=100_000, plan=PlanConfig(users=(100_000,)))
_BYTES, _POLLERS, _LATENCY = (
    "“~2 KB per poll per order”",
    "“Max concurrent polling: 100+ per server”",
    "“~3-second latency”",
)


def _row(strategy, p95, *, workload="seed-chat", source="sim", **kw):
    base = {
        "strategy": strategy,
        "source": source,
        "workload": workload,
        "run": f"{workload}/{source}",
        "latency_s.p50": p95 / 2,
        "latency_s.p95": p95,
        "latency_s.p99": p95 * 1.05,
        "server_utilization": 0.3,
        "requests_per_s": 100.0,
        "bytes_per_client_per_min": 1000.0,
    }
    base.update(kw)
    return base


_KNEES = knees_of(
    knee("seed-dashboard:3", 850),  # CPU-bound at 0.2 of a core: 4 250 on a whole one
    knee("poll:3", 1000),
    knee("sse", 4000),  # CPU-bound at 0.2 (20 000) but 10 000 connections bind on a whole core
    knee("longpoll", 1500, conns_per_client=3.0),
    knee("sse", 9000, source="sim", quota=None, limit="connections"),
)


def _planning(**over):
    rows = {
        "seed-dashboard:3": _row("seed-dashboard:3", 2.9, bytes_per_poll=2100.0),
        "poll:3": _row("poll:3", 2.9, bytes_per_poll=400.0),
        "poll:10": _row("poll:10", 9.5),  # misses the 3 s target
        "sse": _row("sse", 0.1),
        "longpoll": _row("longpoll", 0.2),
    }
    rows.update(over)
    return list(rows.values())


def _agreement_load():
    """The chatty agreement load: figures of another workload that must not enter any verdict."""
    return [
        _row("seed-dashboard:3", 9.0, workload=AGREEMENT_WORKLOAD, bytes_per_poll=11_000.0, failures=3),
        _row("sse", 0.01, workload=AGREEMENT_WORKLOAD, source="measured"),
        _row("poll:10", 0.5, workload=AGREEMENT_WORKLOAD),
    ]


def test_recommends_fewest_processes_by_knee_among_those_meeting_the_target():
    finding = recommend(result_set([*_agreement_load(), *_planning()], _KNEES), _CFG)
    assert finding.verdict == "recommended"
    assert finding.text.startswith(
        "sse: p95 delivery latency 0.10 s under seed-chat (sim), 10 server process(es) for 100,000 users at "
        "10,000 clients per process (measured at Q = 0.2, scaled to a whole core and capped there by "
        "connections)"
    )
    assert "seed-dashboard:3) would need 24 process(es)" in finding.text  # 100 000 / 4 250
    assert "Runner-up: poll:3 with 20 process(es)" in finding.text
    assert "Missed the latency target or had failures: poll:10" in finding.text
    assert "seed-dashboard:3 4,250 (measured at Q = 0.2, scaled to a whole core)" in finding.text


def test_recommendation_and_claims_are_for_the_planning_workload_not_the_agreement_load():
    """Two result sets that differ only in the planning workload's figures give different verdicts; ones that
    differ only in the agreement load's give the same."""
    base = result_set([*_planning(), *_agreement_load()], _KNEES)
    slower = {
        "seed-dashboard:3": _row("seed-dashboard:3", 4.0, bytes_per_poll=9000.0),
        "sse": _row("sse", 3.5),
    }
    slow = result_set([*_planning(**slower), *_agreement_load()], _KNEES)
    other_agreement = result_set(_planning(), _KNEES)
    verdicts = [c.verdict for c in seed_claims(base, _CFG)]
    assert verdicts == ["holds", "holds", "holds"]
    assert [c.verdict for c in seed_claims(slow, _CFG)] == ["does not hold", "holds", "does not hold"]
    assert recommend(slow, _CFG).text.startswith("poll:3")
    assert [c.verdict for c in seed_claims(other_agreement, _CFG)] == verdicts
    assert recommend(other_agreement, _CFG).text == recommend(base, _CFG).text


def test_the_pollers_claim_is_the_measured_knee_at_its_quota_and_on_a_whole_core():
    claim = {c.title: c for c in seed_claims(result_set(_planning(), _KNEES), _CFG)}[_POLLERS]
    assert claim.verdict == "holds"
    assert (
        "Measured knee of seed-dashboard:3 under seed-chat: 850 clients at 0.2 of a core (CPU-bound), "
        "4,250 scaled to a whole core: holds." in claim.text
    )


def test_the_pollers_claim_without_a_knee_says_how_to_get_one():
    claim = seed_claims(result_set(_planning()), _CFG)[1]
    assert claim.verdict == "no data" and NO_KNEE in claim.text


def test_a_knee_below_a_hundred_refutes_the_pollers_claim():
    claim = seed_claims(result_set(_planning(), knees_of(knee("seed-dashboard:3", 80, quota=None))), _CFG)[1]
    assert claim.verdict == "does not hold" and "80 clients at a whole core (CPU-bound)" in claim.text


def test_the_bytes_and_latency_claims_name_the_workload():
    claims = seed_claims(result_set(_planning(), _KNEES), _CFG)
    assert claims[0].text.startswith(
        "Judged on seed-dashboard:3 under seed-chat. seed-dashboard:3 (sim): 2,100 B"
    )
    assert "poll:3 (sim): 400 B per poll, 0.20× the claim" in claims[0].text
    assert claims[2].text.startswith("Judged on the seed-chat simulation of seed-dashboard:3: p50 1.45 s")


def test_without_knees_nothing_is_ranked_by_processes():
    finding = recommend(result_set(_planning()), _CFG)
    assert finding.verdict == "uncertain"
    assert NO_KNEE in finding.text and "least traffic first" in finding.text
    assert "extrapolated from utilization, not knees: seed-dashboard:3 ~2,000" in finding.text


def test_a_strategy_with_failures_is_not_recommended():
    rows = _planning(sse=_row("sse", 0.1, failures=3))
    assert recommend(result_set(rows, _KNEES), _CFG).text.startswith("poll:3")


def test_agreement_load_alone_is_not_planned_for():
    finding = recommend(result_set(_agreement_load()), _CFG)
    assert finding.verdict == "no data" and "agreement load only" in finding.text


def test_no_strategy_meeting_the_target_gives_no_recommendation():
    assert recommend(result_set([_row("poll:10", 9.0)]), _CFG).verdict == "no data"


def test_recommendation_warns_when_its_sim_and_measured_figures_disagree():
    rows = [*_planning(), _row("sse", 0.5, source="measured")]  # measured latency five times the simulated
    text = recommend(result_set(rows, _KNEES), _CFG).text
    assert "Caution: its simulated and measured latency_s.p50, latency_s.p95 disagree under seed-chat" in text


def test_the_bytes_claim_is_per_order_a_poll_fetches_every_order():
    rows = _planning(
        **{"seed-dashboard:3": _row("seed-dashboard:3", 2.9, bytes_per_poll=6700.0, orders_per_client=2)}
    )
    claim = seed_claims(result_set(rows, _KNEES), _CFG)[0]
    assert "6,700 B per poll of 2 orders: 3,350 B per order, 1.64× the claim" in claim.text
    assert claim.verdict == "holds"
