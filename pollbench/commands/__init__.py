"""One module per ``pollbench`` subcommand.

Each module defines ``HELP`` (one line for ``pollbench --help``), ``DESCRIPTION`` (the subcommand's
``--help`` text), ``configure(parser)`` and ``run(args) -> int``. Modules import their heavy dependencies
(aiohttp, numpy, simpy...) inside ``run`` so that ``pollbench --help`` stays instant.
"""


class CommandError(Exception):
    """A user-facing failure: printed as ``pollbench <command>: error: <message>``, exit code 2."""


def duration_flag(flag: str, text: str) -> float:
    """Seconds from a flag's '90s', '5m', ...; CommandError naming the flag (several flags take durations)."""
    from pollbench.scenario import ScenarioError, parse_duration

    try:
        return parse_duration(text)
    except ScenarioError as exc:
        raise CommandError(f"{flag}: {exc}") from None
