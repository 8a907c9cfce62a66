"""pollbench report, run in-process through pollbench.cli.main."""

from pollbench.cli import main
from tests.reports.fixtures import make_results


def test_report_builds_from_results_directories(tmp_path, capsys):
    make_results(tmp_path / "sim", strategies=("poll:3", "sse"), deliveries=200)
    make_results(
        tmp_path / "measured", source="measured", seed=2, strategies=("poll:3", "sse"), deliveries=200
    )
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "sim"), str(tmp_path / "measured"), "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert (out / "charts" / "latency_cdf.png").is_file()
    printed = capsys.readouterr().out
    assert "report:" in printed and "Recommendation for 100,000 users" in printed


def test_missing_results_directory_exits_2_with_a_sentence(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "pollbench report: error:" in capsys.readouterr().err


def test_a_file_that_is_not_a_summary_exits_2(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text('{"strategies": {}}')
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r")]) == 2
    assert "not a pollbench summary" in capsys.readouterr().err


def test_bad_latency_target_exits_2(tmp_path, capsys):
    make_results(tmp_path / "sim", strategies=("sse",), deliveries=10)
    assert main(["report", str(tmp_path / "sim"), "--latency-target", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--latency-target must be a positive number" in capsys.readouterr().err


def test_report_runs_as_a_real_subprocess(tmp_path):
    """One smoke test through the installed entry point, as a user runs it."""
    import subprocess
    import sys

    make_results(tmp_path / "sim", strategies=("poll:3",), deliveries=100)
    proc = subprocess.run(
        [sys.executable, "-m", "pollbench", "report", str(tmp_path / "sim"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "report.html").is_file()


def test_report_of_a_comparison_plans_for_its_workload_and_a_schema_1_capacity_file_is_refused(
    tmp_path, capsys
):
    import json

    from tests.reports.fixtures import make_comparison

    make_comparison(tmp_path / "cmp")
    assert main(["report", str(tmp_path / "cmp"), "--out", str(tmp_path / "r")]) == 0
    assert "Recommendation for 100,000 users of seed-chat" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "cmp"), "--workload", "other", "--out", str(tmp_path / "r2")]) == 0
    assert "Recommendation for 100,000 users of other" in capsys.readouterr().out
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "capacity.json").write_text(json.dumps({"capacity_schema": 1, "curves": []}))
    assert main(["report", str(tmp_path / "old"), "--out", str(tmp_path / "r3")]) == 2
    assert "capacity_schema 1, expected 2" in capsys.readouterr().err
