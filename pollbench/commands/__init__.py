"""One module per ``pollbench`` subcommand.

Each module defines ``HELP`` (one line for ``pollbench --help``), ``DESCRIPTION`` (the subcommand's
``--help`` text), ``configure(parser)`` and ``run(args) -> int``. Modules import their heavy dependencies
(aiohttp, numpy, simpy...) inside ``run`` so that ``pollbench --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib


class CommandError(Exception):
    """A user-facing failure: printed as ``pollbench <command>: error: <message>``, exit code 2."""


def duration_flag(flag: str, text: str) -> float:
    """Seconds from a flag's '90s', '5m', ...; CommandError naming the flag (several flags take durations)."""
    from pollbench.scenario import ScenarioError, parse_duration

    try:
        return parse_duration(text)
    except ScenarioError as exc:
        raise CommandError(f"{flag}: {exc}") from None


CPU_QUOTA_FLAG = "--server-cpu-quota"

CPU_QUOTA_HELP = (
    "run each server pollbench starts at Q of one core (0 < Q <= 1, e.g. 0.2) in a CPU-quota cgroup "
    "(cgroup v2 cpu.max or v1 cfs quota; needs root or a delegated cgroup), so its capacity knee is within "
    "the load generator's reach; the server seeds its data at full speed first; server CPU is then reported "
    "as a share of Q. Not with --host"
)


def add_cpu_quota_argument(parser: argparse.ArgumentParser, *, help: str = CPU_QUOTA_HELP) -> None:
    """``--server-cpu-quota Q``, parsed later by :func:`cpu_quota_flag` so a bad value gets a sentence."""
    parser.add_argument(CPU_QUOTA_FLAG, default=None, metavar="Q", help=help)


def cpu_quota_flag(text: str | None, *, host: str | None = None) -> float | None:
    """The quota share from ``--server-cpu-quota`` (None when not given); refused together with ``host``."""
    from pollbench.scenario import ScenarioError, check_cpu_quota

    if text is None:
        return None
    value: object = text
    with contextlib.suppress(ValueError):
        value = float(text)
    try:
        quota = check_cpu_quota(value, CPU_QUOTA_FLAG)
    except ScenarioError as exc:
        raise CommandError(str(exc)) from None
    refuse_quota_with_host(quota, host)
    return quota


def refuse_quota_with_host(quota: float | None, host: str | None, *, source: str = CPU_QUOTA_FLAG) -> None:
    """CommandError for a quota with ``--host``: it would be recorded but never applied."""
    if quota is not None and host is not None:
        raise CommandError(
            f"{source} applies only to servers pollbench starts itself, not to --host {host}: drop --host, "
            "or put that server in a CPU-limited cgroup yourself (e.g. systemd-run -p CPUQuota=20%)"
        )
