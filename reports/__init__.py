"""Reports: load results directories, chart them, plan capacity, and check them against a baseline.

The public face of the package; implementation lives in one module per concept (``load``, ``capacity``,
``charts``, ``planning``, ``agreement``, ``findings``, ``html``, ``markdown``, ``build``, ``baseline``,
``check``). Knees are written and read by pollbench.capacity (``write_capacity``, ``read_capacity``).
"""

from reports.build import ReportFiles, build_report
from reports.load import ResultSet, load_results
from reports.planning import PlanConfig, capacity_plan

__all__ = [
    "PlanConfig",
    "ReportFiles",
    "ResultSet",
    "build_report",
    "capacity_plan",
    "load_results",
]
