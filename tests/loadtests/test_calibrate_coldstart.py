"""The cold-start fit: exact data gives back its parameters; no penalty gives none."""

from __future__ import annotations

import math

import pytest

from loadtests.calibrate_coldstart import GapSample, fit_cold_start, penalties

GAPS_MS = (0.3, 1.0, 3.0, 10.0, 30.0)


@pytest.mark.parametrize(("max_ms", "tau_ms"), [(0.6, 3.0), (0.25, 0.5), (1.2, 12.0)])
def test_the_fit_recovers_max_and_tau_from_exact_points(max_ms: float, tau_ms: float) -> None:
    points = [(g, max_ms * (1 - math.exp(-g / tau_ms))) for g in GAPS_MS]
    fitted_max, fitted_tau = fit_cold_start(points)
    assert fitted_max == pytest.approx(max_ms, rel=1e-6)
    assert fitted_tau == pytest.approx(tau_ms, rel=1e-6)


def test_no_penalty_fits_to_zero() -> None:
    assert fit_cold_start([(g, -0.01) for g in GAPS_MS]) == (0.0, 1.0)
    assert fit_cold_start([]) == (0.0, 1.0)


def test_penalties_are_relative_to_back_to_back() -> None:
    samples = [
        GapSample(gap_ms=0.0, count=100, cpu_s=0.015, idle_s=0.0001),
        GapSample(gap_ms=3.0, count=10, cpu_s=0.005, idle_s=0.031),
    ]
    ((gap, penalty),) = penalties(samples)
    assert gap == pytest.approx(3.1)
    assert penalty == pytest.approx(0.5 - 0.15)
