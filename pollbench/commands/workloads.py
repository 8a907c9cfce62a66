"""``pollbench workloads``: list the planning workloads shipped as presets, and show one's scenario."""

from __future__ import annotations

import argparse
import json

HELP = "list the planning workload presets (seed-chat, ...) and what each one assumes"
DESCRIPTION = """\
A planning workload is the traffic a capacity figure is for: a preset shipped with pollbench or a scenario
file of yours. 'simulate', 'capacity' and 'compare' take --workload PRESET|FILE; every figure they plan
names it. Without arguments this lists the presets; with one, it prints that workload's scenario (every
field, flags not applied) and the file it comes from, whose comments say where each figure comes from.

Examples:
  pollbench workloads
  pollbench workloads seed-chat
  pollbench workloads my-chat.toml --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workload", nargs="?", metavar="PRESET|FILE", help="show this workload's scenario")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    from pollbench.workload import describe_presets, load_workload

    if args.workload is None:
        presets = describe_presets()
        if args.json:
            print(json.dumps(presets, indent=2))
            return 0
        for name, text in presets.items():
            print(f"{name:<16} {text}")
        return 0
    workload = load_workload(args.workload)
    scenario = workload.scenario.to_dict()
    if args.json:
        print(json.dumps({"name": workload.name, "path": str(workload.path), "scenario": scenario}, indent=2))
        return 0
    print(f"{workload.name}  ({workload.path})")
    for key, value in scenario.items():
        print(f"  {key:<22} {value}")
    return 0
