"""The reference messaging server: the seed's order-chat API over SQLite, with every delivery strategy
(polling with ETag and since-cursor, long-poll, Server-Sent Events, WebSocket) on one durable store.

Build an app with ``create_app(ServerConfig(...))``; serve it on a real port with ``running_server`` (an
async context manager yielding the base URL) or from the command line with ``pollbench serve``.
"""

from reference_server.app import create_app
from reference_server.auth import Principal, TokenAuthority
from reference_server.config import ServerConfig
from reference_server.runner import raise_open_file_limit, running_server, serve
from reference_server.seeding import build_fixtures, write_fixtures
from reference_server.state import STATE, ServerState

__all__ = [
    "STATE",
    "Principal",
    "ServerConfig",
    "ServerState",
    "TokenAuthority",
    "build_fixtures",
    "create_app",
    "raise_open_file_limit",
    "running_server",
    "serve",
    "write_fixtures",
]
