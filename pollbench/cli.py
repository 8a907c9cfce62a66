"""The ``pollbench`` command line: one entry point for serving, simulating, load testing and reporting.

Exit codes (all subcommands): 0 success; 1 a check or threshold failed; 2 bad input or usage;
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from pollbench.commands import CommandError

__all__ = ["EXIT_CHECK_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Subcommand name -> module under pollbench.commands. Order is the order shown in --help.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("compare", "compare"),
    ("strategies", "strategies"),
    ("serve", "serve"),
    ("simulate", "simulate"),
    ("capacity", "capacity"),
    ("workloads", "workloads"),
    ("bench", "bench"),
    ("loadtest", "loadtest"),
    ("calibrate", "calibrate"),
    ("report", "report"),
    ("check", "check"),
    ("audit", "audit"),
)


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"pollbench.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand configured."""
    from pollbench import __version__

    parser = argparse.ArgumentParser(
        prog="pollbench",
        description=(
            "Measure and simulate how a web app should deliver live updates: polling every 3/5/10 s, "
            "adaptive polling, long-polling, Server-Sent Events or WebSocket push."
        ),
        epilog="Exit codes: 0 ok, 1 check/threshold failed, 2 bad input, 130 interrupted. "
        "Run 'pollbench COMMAND --help' for each command.",
    )
    parser.add_argument("--version", action="version", version=f"pollbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS:
        module = _load(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(p)
        p.set_defaults(_run=module.run, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    from pollbench.results import ResultsError
    from pollbench.scenario import ScenarioError
    from pollbench.strategies import StrategyError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except (CommandError, ScenarioError, StrategyError, ResultsError) as exc:
        print(f"pollbench {args._name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pollbench {args._name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
