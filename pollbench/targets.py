"""Load targets: which servers pollbench may send load to.

A load test aimed at the wrong address is an attack on somebody else's server, so every command that sends
load (``loadtest``, ``capacity``, ``calibrate``, ``compare``, ``audit``) passes its target through
:func:`check_target`: loopback (127.0.0.0/8, ::1, ``localhost``) is always allowed; anything else only with
``--allow-remote``, which the user has to type on purpose. Every run is also bounded in time by its own
command, so a forgotten run stops by itself.
"""

from __future__ import annotations

import argparse
import ipaddress
from urllib.parse import urlsplit

from pollbench.commands import CommandError

__all__ = ["LOOPBACK_RTT_MS", "add_target_arguments", "check_target", "is_loopback_host"]

LOOPBACK_RTT_MS = 0.1
"""Round-trip time of a loopback target, milliseconds: what a measured run on this machine had, and what a
simulation of the same scenario should assume."""

REMOTE_HELP = (
    "allow a --host outside loopback (127.0.0.0/8, ::1, localhost). Only load servers you own and are "
    "allowed to load: pollbench sends real traffic"
)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IPv4/IPv6 literal."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str, *, allow_remote: bool = False, flag: str = "--host") -> str:
    """The base URL without its trailing slash, when pollbench may load it; CommandError otherwise.

    The URL must be ``http://HOST:PORT``. A host outside loopback is refused unless ``allow_remote``.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise CommandError(f"{flag} must look like http://127.0.0.1:8080, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise CommandError(f"{flag} needs an explicit port, e.g. http://127.0.0.1:8080, got {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise CommandError(f"{flag} must be a bare base URL like http://127.0.0.1:8080, got {url!r}")
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise CommandError(
            f"refusing to load {parts.hostname}: pollbench sends load only to loopback hosts "
            "(127.0.0.0/8, ::1, localhost) unless you pass --allow-remote, so that a typo never "
            "load-tests somebody else's server"
        )
    return url.rstrip("/")


def add_target_arguments(parser: argparse.ArgumentParser, *, host_help: str) -> None:
    """``--host URL`` and ``--allow-remote``, worded the same in every command."""
    parser.add_argument("--host", default=None, metavar="URL", help=host_help)
    parser.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
