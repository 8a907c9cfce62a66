"""examples/github-actions/pollbench.yml: the CI example calls `pollbench check` with accepted flags."""

import shlex
from pathlib import Path

from pollbench.cli import build_parser

_WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "github-actions" / "pollbench.yml"


def _folded_command(text: str, program: str) -> list[str]:
    """The words of the folded `run: >` block that starts with `program`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == program)
    words: list[str] = []
    for line in lines[start:]:
        if not line.strip() or line.strip().startswith("- "):
            break
        words += shlex.split(line)
    return words


def test_the_check_step_parses_with_the_real_cli():
    words = _folded_command(_WORKFLOW.read_text(), "pollbench check")
    args = build_parser().parse_args(words[1:])
    assert args._name == "check"
    assert args.baseline == ".pollbench/baseline.json" and args.junit == "out/check.xml"


def test_the_workflow_runs_on_pull_requests_and_keeps_the_report():
    text = _WORKFLOW.read_text()
    assert "pull_request:" in text and "pollbench compare --quick --out out" in text
    assert "upload-artifact" in text and "out/report.html" in text
