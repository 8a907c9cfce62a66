"""Shared helpers for simulator tests: small seeded runs of one strategy."""

from __future__ import annotations

from pollbench.scenario import Scenario
from pollbench.strategies import parse_strategy
from sim.calibration import Calibration
from sim.context import build_context
from sim.run import simulate_strategy


def run_one(spec: str, engine: str = "fast", calibration: Calibration | None = None, **scenario):
    """Simulate one strategy on a small scenario; returns its StrategyResult."""
    sc = Scenario(**{"clients": 100, "duration": 1800.0, **scenario})
    ctx = build_context(sc, calibration or Calibration())
    result, _ = simulate_strategy(parse_strategy(spec), ctx, engine=engine)  # type: ignore[arg-type]
    return result
