"""One module per ``pollbench`` subcommand.

Each module defines ``HELP`` (one line for ``pollbench --help``), ``DESCRIPTION`` (the subcommand's
``--help`` text), ``configure(parser)`` and ``run(args) -> int``. Modules import their heavy dependencies
(aiohttp, numpy, simpy...) inside ``run`` so that ``pollbench --help`` stays instant.
"""


class CommandError(Exception):
    """A user-facing failure: printed as ``pollbench <command>: error: <message>``, exit code 2."""
