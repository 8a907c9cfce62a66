"""reports.findings: the seed's claims and the recommendation, computed from the figures."""

from reports.findings import RecommendConfig, recommend, seed_claims
from reports.planning import PlanConfig
from tests.reports.helpers import result_set


def _row(strategy, p95, util, **kw):
    base = {
        "strategy": strategy,
        "source": "measured",
        "latency_s.p50": p95 / 2,
        "latency_s.p95": p95,
        "latency_s.p99": p95 * 1.05,
        "server_utilization": util,
        "requests_per_s": 100.0,
        "bytes_per_client_per_min": 1000.0,
    }
    base.update(kw)
    return base


_CFG = RecommendConfig(latency_target_s=3.0, users=100_000, plan=PlanConfig(users=(100_000,)))


def test_recommends_fewest_processes_among_those_meeting_the_latency_target():
    rs = result_set(
        [
            _row("seed-dashboard:3", 2.9, 0.5, bytes_per_poll=2100.0),
            _row("poll:10", 9.5, 0.01),  # cheapest, but misses the 3 s target
            _row("sse", 0.1, 0.05),
            _row("longpoll", 0.2, 0.1),
        ]
    )
    finding = recommend(rs, _CFG)
    assert finding.verdict == "recommended"
    assert finding.text.startswith("sse (measured): p95 delivery latency 0.10 s, 9 server process(es)")
    assert "seed-dashboard:3) would need 84 process(es)" in finding.text
    assert "Missed the latency target or had failures: poll:10" in finding.text


def test_a_strategy_with_failures_is_not_recommended():
    rs = result_set([_row("sse", 0.1, 0.05, failures=3), _row("ws", 0.1, 0.1)])
    assert recommend(rs, _CFG).text.startswith("ws (measured)")


def test_no_strategy_meeting_the_target_gives_no_recommendation():
    assert recommend(result_set([_row("poll:10", 9.0, 0.1)]), _CFG).verdict == "no data"


def test_claims_are_judged_on_the_seed_dashboard():
    rs = result_set(
        [
            _row("seed-dashboard:3", 2.9, 0.5, bytes_per_poll=2100.0),
            _row("poll:3", 2.9, 0.1, bytes_per_poll=400.0),
        ]
    )
    by_title = {c.title: c for c in seed_claims(rs, _CFG)}
    assert by_title["“~2 KB per poll per order”"].verdict == "holds"
    assert "poll:3 (measured): 400 B per poll, 0.20× the claim" in by_title["“~2 KB per poll per order”"].text
    assert by_title["“Max concurrent polling: 100+ per server”"].verdict == "holds"  # 1000/0.5*0.6 = 1200
    assert by_title["“~3-second latency”"].verdict == "holds"


def test_latency_claim_fails_when_p99_is_well_over_three_seconds():
    rs = result_set([_row("seed-dashboard:3", 4.0, 0.5)])
    claim = seed_claims(rs, _CFG)[2]
    assert claim.verdict == "does not hold" and "p99 4.20 s" in claim.text


def test_claims_without_figures_say_no_data():
    assert [c.verdict for c in seed_claims(result_set([_row("sse", 0.1, 0.1)]), _CFG)] == ["no data"] * 3


def test_recommendation_warns_when_its_sim_and_measured_figures_disagree():
    rs = result_set(
        [
            _row("sse", 0.1, 0.05),
            {**_row("sse", 0.5, 0.05), "source": "sim"},  # simulated p50 and p95 five times the measured ones
        ]
    )
    text = recommend(rs, _CFG).text
    assert text.startswith("sse (measured)")
    assert "Caution: its simulated and measured latency_s.p50, latency_s.p95 disagree" in text


def test_pollers_claim_is_uncertain_when_capacity_is_extrapolated_from_a_nearly_idle_server():
    claim = seed_claims(result_set([_row("seed-dashboard:3", 2.9, 0.01)]), _CFG)[1]
    assert claim.verdict == "uncertain" and "unreliable" in claim.text


def test_a_simulated_plan_is_preferred_to_a_measured_one_extrapolated_from_an_idle_server():
    from reports.findings import preferred

    rs = result_set(
        [
            _row("sse", 0.05, 0.02),  # measured at 2 % busy: an unreliable extrapolation
            _row("sse", 0.01, 0.3, source="sim"),
            _row("poll:3", 2.8, 0.4),  # measured at 40 % busy: trusted
            _row("poll:3", 2.8, 0.3, source="sim"),
        ]
    )
    chosen = dict(zip(preferred(rs, _CFG)["strategy"], preferred(rs, _CFG)["source"], strict=True))
    assert chosen == {"sse": "sim", "poll:3": "measured"}
