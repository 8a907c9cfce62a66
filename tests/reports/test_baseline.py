"""reports.baseline: baseline files and summaries as baselines."""

import math

import pytest

from pollbench.results import ResultsError
from reports.baseline import baseline_from_results, read_baseline, write_baseline
from reports.load import load_results


def test_baseline_round_trips_through_its_file(results_root, tmp_path):
    baseline = baseline_from_results(load_results([results_root]))
    back = read_baseline(write_baseline(tmp_path / "b.json", baseline))
    assert set(back.runs) == {"sim", "measured", "sim:seed-chat"}  # the planning run kept apart
    assert back.runs["sim:seed-chat"].workload == "seed-chat" and back.runs["sim"].workload == ""
    assert back.runs["measured"].calibration_s == 1.0
    assert back.runs["sim"].strategies["poll:3"] == baseline.runs["sim"].strategies["poll:3"] or all(
        a == b or (math.isnan(a) and math.isnan(b))
        for a, b in zip(
            back.runs["sim"].strategies["poll:3"].values(),
            baseline.runs["sim"].strategies["poll:3"].values(),
            strict=True,
        )
    )


def test_a_summary_json_is_a_baseline(results_root):
    baseline = read_baseline(results_root / "sim" / "summary.json")
    assert list(baseline.runs) == ["sim"]
    assert baseline.runs["sim"].seed == 1


def test_two_runs_of_one_source_cannot_make_a_baseline(results_root, tmp_path):
    from tests.reports.fixtures import make_results

    make_results(tmp_path / "other", source="sim", strategies=("sse",), deliveries=10)
    with pytest.raises(ResultsError, match="one run per source"):
        baseline_from_results(load_results([results_root / "sim", tmp_path / "other"]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "neither a pollbench baseline nor a summary.json"),
        ('{"pollbench_baseline": 1, "runs": [{"source": "x"}]}', "'source' of 'sim' or 'measured'"),
        (
            '{"pollbench_baseline": 1, "runs": [{"source": "sim", "strategies": {"sse": {"speed": 1}}}]}',
            "unknown metric(s) speed",
        ),
    ],
)
def test_a_bad_baseline_file_is_a_results_error(tmp_path, text, message):
    (tmp_path / "b.json").write_text(text)
    with pytest.raises(ResultsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_baseline(tmp_path / "b.json")


def test_a_missing_baseline_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ResultsError, match="--update-baseline"):
        read_baseline(tmp_path / "none.json")
