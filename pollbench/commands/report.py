"""``pollbench report``: rebuild the HTML/Markdown report and charts from existing results directories."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.findings import RecommendConfig

HELP = "build the HTML/Markdown report and charts from results directories"
DESCRIPTION = """\
Build a report from results directories written by 'pollbench simulate', the load tests or
'pollbench compare'. Each DIR holds summary.json (and optionally deliveries.parquet and capacity.json);
a DIR whose subdirectories are results directories (e.g. out/sim and out/measured) is loaded as all of
them.

Writes OUT/report.html (self-contained, open it in a browser), OUT/report.md and OUT/charts/*.png|svg.

The capacity plan, the seed's claims and the recommendation are for one planning workload: --workload, or
the first one the runs name (never a comparison's agreement load). Clients per process come from knees
(capacity.json, schema 2: a measured knee first, the simulated one beside it); without one the report says
so, and a figure extrapolated from utilization appears only labelled as such.

Example:
  pollbench report results/sim results/measured --out report
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="results directories (simulated or measured)")
    parser.add_argument(
        "--out", default="report", metavar="DIR", help="where to write the report (default: report)"
    )
    parser.add_argument(
        "--latency-target",
        type=float,
        default=3.0,
        metavar="S",
        help="p95 delivery latency a recommended strategy must meet, seconds (default: 3, the seed's)",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=100_000,
        metavar="N",
        help="planning size for the recommendation (100000)",
    )
    parser.add_argument(
        "--target-utilization",
        type=float,
        default=0.6,
        metavar="U",
        help="busy fraction a labelled extrapolation from utilization scales to where a strategy has no "
        "knee (default: 0.6; never used to rank strategies)",
    )
    parser.add_argument(
        "--workload",
        metavar="NAME",
        help="planning workload to plan for, as the runs name it (default: the first one they name)",
    )


def _config(args: argparse.Namespace) -> RecommendConfig:
    from pollbench.commands import CommandError
    from reports.findings import RecommendConfig
    from reports.planning import PLAN_USERS, PlanConfig

    if not args.latency_target > 0:
        raise CommandError(
            f"--latency-target must be a positive number of seconds, got {args.latency_target}"
        )
    if args.users <= 0:
        raise CommandError(f"--users must be a whole number > 0, got {args.users}")
    if not 0 < args.target_utilization <= 1:
        raise CommandError(f"--target-utilization must be in (0, 1], got {args.target_utilization}")
    users = tuple(sorted({*PLAN_USERS, args.users}))
    plan = PlanConfig(users=users, target_utilization=args.target_utilization, workload=args.workload)
    return RecommendConfig(latency_target_s=args.latency_target, users=args.users, plan=plan)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reports.build import build_report
    from reports.contents import disagreements

    config = _config(args)
    files = build_report(args.dirs, args.out, config)
    console = Console(highlight=False)
    rec = files.contents.recommendation
    console.print(f"[bold]{rec.title}[/bold]: {rec.text}")
    for claim in files.contents.claims:
        console.print(f"seed claim {claim.title}: [bold]{claim.verdict}[/bold]")
    for line in disagreements(files.contents):
        console.print(f"[red]sim/measured disagree[/red] {line}")
    skipped = [c for c in files.contents.charts if c.png is None]
    for chart in skipped:
        console.print(f"[dim]{chart.title}: {chart.note}[/dim]")
    console.print(f"report: {files.html}")
    console.print(f"summary: {files.markdown}")
    return 0
