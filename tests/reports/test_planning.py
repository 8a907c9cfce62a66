"""reports.planning: processes from knees (measured first, simulated beside), traffic from the plan run."""

import pytest

from pollbench.capacity import read_capacity, servers_needed
from pollbench.workload import AGREEMENT_WORKLOAD
from reports.load import load_results
from reports.planning import NO_KNEE, PlanConfig, capacity_plan, planning_workload
from tests.reports.fixtures import found_knee, make_comparison, make_results, write_knees
from tests.reports.helpers import result_set


def _one(**kw):
    base = dict(
        source="sim",
        strategy="poll:5",
        clients=1000,
        server_utilization=0.2,
        requests_per_s=200.0,
        bytes_per_client_per_min=6000.0,
        workload="seed-chat",
    )
    base.update(kw)
    return result_set([base])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    root = make_comparison(tmp_path_factory.mktemp("cmp"))
    return root, load_results([root])


def _at(plan, strategy, users=100_000):
    return plan[(plan["strategy"] == strategy) & (plan["users"] == users)].iloc[0]


def test_the_plan_uses_the_measured_knee_written_by_write_capacity(comparison):
    """What write_capacity stored is what the plan uses: full_core_clients and full_core_limit per row."""
    root, rs = comparison
    written = {k.strategy: k for k in read_capacity(root / "knees" / "measured").knees}
    plan = capacity_plan(rs)
    for strategy, knee in written.items():
        row = _at(plan, strategy)
        assert row["clients_per_process"] == knee.full_core_clients
        assert row["server_processes"] == servers_needed(100_000, knee.full_core_clients)
        assert row["kind"] == "knee" and row["source"] == "measured"
    assert _at(plan, "poll:3")["basis"] == "measured at Q = 0.2, scaled to a whole core"
    assert _at(plan, "poll:3")["limit"] == "CPU"
    assert _at(plan, "sse")["limit"] == "connections"
    assert _at(plan, "sse")["clients_per_process"] == 10_000  # the connection limit, not CPU's 13 000


def test_the_simulated_knee_sits_beside_the_measured_one(comparison):
    root, rs = comparison
    sim = read_capacity(root / "knees" / "sim").knees
    whole = next(k for k in sim if k.strategy == "poll:3" and k.server_cpu_quota is None)
    row = _at(capacity_plan(rs), "poll:3")
    assert row["sim_clients_per_process"] == whole.max_clients  # the whole-core knee, not the one at 0.2
    assert row["sim_basis"] == "simulated on a whole core"
    assert row["sim_server_processes"] == servers_needed(100_000, whole.max_clients)


def test_traffic_comes_from_the_planning_run_never_the_agreement_load(comparison):
    _, rs = comparison
    plan_run = rs.runs[(rs.runs["run"] == "plan") & (rs.runs["strategy"] == "poll:3")].iloc[0]
    row = _at(capacity_plan(rs), "poll:3", users=1_000_000)
    assert row["workload"] == "seed-chat" and row["traffic_source"] == "sim"
    assert row["traffic_gb_per_month"] == pytest.approx(
        plan_run["bytes_per_client_per_min"] * 1_000_000 * 60 * 24 * 30 / 1e9
    )
    assert row["requests_per_month"] == pytest.approx(
        plan_run["requests_per_s"] / plan_run["clients"] * 1_000_000 * 86400 * 30
    )


def test_without_a_knee_the_plan_says_so_and_labels_the_extrapolation():
    row = capacity_plan(_one(), PlanConfig(users=(100_000,), target_utilization=0.6)).iloc[0]
    assert row["kind"] == "extrapolation"
    assert row["clients_per_process"] == pytest.approx(1000 / 0.2 * 0.6)
    assert row["basis"].startswith(NO_KNEE) and "an extrapolation, not a knee" in row["basis"]
    assert row["measured_basis"] == NO_KNEE and row["sim_basis"] == "no simulated knee"


def test_an_extrapolation_from_a_nearly_idle_server_is_called_unreliable():
    row = capacity_plan(_one(server_utilization=0.02), PlanConfig(users=(1000,))).iloc[0]
    assert "unreliable" in row["basis"]


def test_no_utilization_and_no_knee_means_no_server_count():
    row = capacity_plan(_one(server_utilization=float("nan")), PlanConfig(users=(1000,))).iloc[0]
    assert row["server_processes"] is None and row["kind"] == "none"


def test_a_knee_outranks_an_extrapolation(tmp_path):
    make_results(tmp_path / "plan", strategies=("poll:3",), deliveries=10, workload="seed-chat")
    knee = found_knee("poll:3", 700, source="sim", quota=None)
    write_knees(tmp_path / "knees", "sim", [knee])
    row = capacity_plan(load_results([tmp_path]), PlanConfig(users=(10_000,))).iloc[0]
    assert row["kind"] == "knee" and row["clients_per_process"] == knee.max_clients


def test_a_figure_below_what_a_measured_process_held_is_no_limit(tmp_path):
    """A simulated knee of 400 SSE clients, while a measured run of the workload held 2 000 within the SLO:
    the plan uses the 2 000 as a lower bound and says why, rather than presenting 400 as a limit."""
    make_results(tmp_path / "measured", source="measured", strategies=("sse",), clients=2000, deliveries=50,
                 workload="seed-chat")  # fmt: skip
    sim = found_knee("sse", 400, source="sim", quota=None)
    write_knees(tmp_path / "knees", "sim", [sim])
    row = capacity_plan(load_results([tmp_path]), PlanConfig(users=(10_000,))).iloc[0]
    assert row["kind"] == "held" and row["at_least"] and row["clients_per_process"] == 2000
    assert row["server_processes"] == 5
    assert "held 2,000 clients within the SLO" in row["basis"] and "so no limit" in row["basis"]
    assert row["sim_clients_per_process"] == sim.max_clients


def test_a_knee_found_under_a_quota_that_cannot_be_scaled_is_a_lower_bound(tmp_path):
    from dataclasses import replace

    make_results(tmp_path / "plan", strategies=("sse",), deliveries=10, workload="seed-chat")
    knee = found_knee("sse", 1000, source="measured", quota=0.2)
    knee = replace(knee, limited_by=("failures",), full_core_clients=None, scaled_to_full_core=False)
    write_knees(tmp_path / "knees", "measured", [knee])
    row = capacity_plan(load_results([tmp_path]), PlanConfig(users=(10_000,))).iloc[0]
    assert row["clients_per_process"] == knee.max_clients and row["at_least"]
    assert "not scalable to a whole core" in row["basis"]


def test_the_planning_workload_is_never_the_agreement_load(comparison):
    _, rs = comparison
    assert planning_workload(rs) == "seed-chat"
    only_agreement = result_set([dict(strategy="sse", workload=AGREEMENT_WORKLOAD)])
    assert planning_workload(only_agreement) == ""
    assert capacity_plan(only_agreement).empty


def test_one_row_per_strategy_and_user_count():
    plan = capacity_plan(result_set([dict(strategy="sse"), dict(strategy="ws")]))
    assert len(plan) == 2 * 4
    assert sorted(plan["users"].unique()) == [1_000, 10_000, 100_000, 1_000_000]
