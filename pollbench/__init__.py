"""pollbench: measure and simulate how a web app should deliver live updates.

The public Python API lives here; the ``pollbench`` command line fronts it (see ``pollbench --help``).
"""

import importlib.metadata as _metadata

from pollbench.results import (
    LatencyStats,
    MessageCounts,
    QueueWait,
    ResultsError,
    StrategyResult,
    Summary,
    latency_stats,
    read_deliveries,
    read_summary,
    write_deliveries,
    write_summary,
)
from pollbench.scenario import Scenario, ScenarioError, load_scenario, parse_duration
from pollbench.strategies import ALL_SPECS, Strategy, StrategyError, parse_strategies, parse_strategy
from pollbench.workload import Workload, WorkloadError, load_workload

try:
    __version__ = _metadata.version("pollbench")
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ALL_SPECS",
    "LatencyStats",
    "MessageCounts",
    "QueueWait",
    "ResultsError",
    "Scenario",
    "ScenarioError",
    "Strategy",
    "StrategyError",
    "StrategyResult",
    "Summary",
    "Workload",
    "WorkloadError",
    "__version__",
    "latency_stats",
    "load_scenario",
    "load_workload",
    "parse_duration",
    "parse_strategies",
    "parse_strategy",
    "read_deliveries",
    "read_summary",
    "write_deliveries",
    "write_summary",
]
