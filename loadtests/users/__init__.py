"""Locust user classes, one per delivery strategy, plus senders and the seed's admin panel.

Import only inside a Locust process: importing Locust monkey-patches the interpreter with gevent.
"""

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
