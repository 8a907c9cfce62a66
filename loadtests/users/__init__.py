"""Locust user classes, one per delivery strategy, plus senders and the seed's admin panel.

Import the user classes only inside a Locust process: importing Locust monkey-patches the interpreter with
gevent. They are therefore loaded lazily, on first access (PEP 562), so the plain helper
``loadtests.users.retry`` can be imported (and tested) without Locust.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtests.users.polling import AdaptivePollingUser, AdminPanelUser, PollingUser, SeedDashboardUser
    from loadtests.users.push import LongPollUser, SSEUser, WebSocketUser
    from loadtests.users.sender import SenderUser

__all__ = [
    "AdaptivePollingUser",
    "AdminPanelUser",
    "LongPollUser",
    "PollingUser",
    "SSEUser",
    "SeedDashboardUser",
    "SenderUser",
    "WebSocketUser",
]

_HOME = {
    "AdaptivePollingUser": "polling",
    "AdminPanelUser": "polling",
    "PollingUser": "polling",
    "SeedDashboardUser": "polling",
    "LongPollUser": "push",
    "SSEUser": "push",
    "WebSocketUser": "push",
    "SenderUser": "sender",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
