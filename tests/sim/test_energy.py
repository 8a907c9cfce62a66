"""LTE RRC radio energy model (sim/energy.py): state accounting, closed forms and the tail effect."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.energy import (
    RadioModel,
    energy_joules,
    energy_joules_per_client,
    high_power_fraction,
    periodic_energy_per_hour,
    periodic_high_power_fraction,
    radio_states,
)

MODEL = RadioModel()
HOUR = 3600.0


def periodic(interval_s: float, *, phase_s: float = 0.0, duration_s: float = HOUR) -> np.ndarray:
    return np.arange(phase_s, duration_s, interval_s)


def test_defaults_are_huang_et_al_2012() -> None:
    assert (MODEL.promotion_s, MODEL.promotion_w, MODEL.tail_s, MODEL.tail_w, MODEL.idle_w) == (
        0.26,
        1.2,
        11.6,
        1.06,
        0.01,
    )


def test_no_activity_is_idle_all_window() -> None:
    assert energy_joules(np.array([]), HOUR, MODEL) == pytest.approx(36.0)
    assert high_power_fraction(np.array([]), HOUR, MODEL) == 0.0


def test_single_activity_costs_a_promotion_and_a_tail() -> None:
    """One packet at t=100: 99.74 s idle, 0.26 s promoting, 11.6 s tail, then idle to the end."""
    states = radio_states(np.array([100.0]), HOUR, MODEL)
    assert states.promotions == 1
    assert states.promotion_s == pytest.approx(0.26)
    assert states.connected_s == pytest.approx(11.6)
    assert states.idle_s == pytest.approx(HOUR - 11.6 - 0.26)
    expected = 0.26 * 1.2 + 11.6 * 1.06 + (HOUR - 11.86) * 0.01
    assert energy_joules(np.array([100.0]), HOUR, MODEL) == pytest.approx(expected)


def test_gap_shorter_than_tail_keeps_high_power_and_needs_no_promotion() -> None:
    states = radio_states(np.array([100.0, 110.0]), HOUR, MODEL)
    assert states.promotions == 1
    assert states.connected_s == pytest.approx(10.0 + 11.6)


def test_gap_longer_than_tail_demotes_and_promotes_again() -> None:
    states = radio_states(np.array([100.0, 130.0]), HOUR, MODEL)
    assert states.promotions == 2
    assert states.connected_s == pytest.approx(2 * 11.6)
    assert states.promotion_s == pytest.approx(2 * 0.26)


@pytest.mark.parametrize("times", [[5.0], [0.0, 3.0, 40.0, 41.0, 3599.0], list(np.linspace(0, HOUR, 97))])
def test_state_times_add_up_to_the_window(times: list[float]) -> None:
    s = radio_states(np.array(times), HOUR, MODEL)
    assert s.connected_s + s.promotion_s + s.idle_s == pytest.approx(HOUR)


@pytest.mark.parametrize("interval_s", [3.0, 5.0, 10.0])
def test_polling_faster_than_the_tail_keeps_the_radio_in_high_power_all_hour(interval_s: float) -> None:
    """poll:3, poll:5, poll:10: 100 % high power in the long run, ~3.8 kJ per client-hour."""
    assert periodic_high_power_fraction(interval_s, MODEL) == 1.0
    assert periodic_energy_per_hour(interval_s, MODEL) == pytest.approx(3816.0)
    # A real hour with a random phase: only the idle lead-in before the first poll (< T) is lost.
    t = periodic(interval_s, phase_s=interval_s / 2)
    assert high_power_fraction(t, HOUR, MODEL) >= 1 - interval_s / HOUR
    assert energy_joules(t, HOUR, MODEL) == pytest.approx(3816.0, rel=interval_s / HOUR)


def test_poll_every_30_s_lets_the_radio_rest_most_of_the_time() -> None:
    """poll:30: (11.6*1.06 + 0.26*1.2 + 18.14*0.01) J per cycle, 120 cycles: ~1.53 kJ, 40 % high power."""
    assert periodic_energy_per_hour(30.0, MODEL) == pytest.approx(
        120 * (11.6 * 1.06 + 0.26 * 1.2 + 18.14 * 0.01)
    )
    assert periodic_energy_per_hour(30.0, MODEL) < 0.45 * periodic_energy_per_hour(3.0, MODEL)
    assert periodic_high_power_fraction(30.0, MODEL) == pytest.approx(11.86 / 30)


def test_push_connection_with_30_s_ping_costs_far_less_than_short_polling() -> None:
    """A WebSocket pinged every 30 s plus 60 messages an hour, vs poll:3: well under half the energy."""
    rng = np.random.default_rng(7)
    pings = periodic(30.0, phase_s=12.0)
    messages = np.sort(rng.uniform(0, HOUR, 60))
    push = energy_joules(np.sort(np.concatenate([pings, messages])), HOUR, MODEL)
    poll3 = energy_joules(periodic(3.0, phase_s=1.0), HOUR, MODEL)
    assert push < 0.6 * poll3
    assert high_power_fraction(pings, HOUR, MODEL) == pytest.approx(
        periodic_high_power_fraction(30.0, MODEL), abs=0.01
    )


def test_simulated_periodic_activity_matches_the_closed_form() -> None:
    """Whole cycles from phase 0: the vectorised sum equals the closed form up to the first promotion."""
    t = periodic(60.0)
    # Activity at t=0 has no idle lead-in to promote in (documented edge): one promotion short.
    expected = periodic_energy_per_hour(60.0, MODEL) - 0.26 * 1.2 + 0.26 * 0.01
    assert energy_joules(t, HOUR, MODEL) == pytest.approx(expected)


def test_every_parameter_is_overridable() -> None:
    short_tail = RadioModel(tail_s=2.0, tail_w=0.5, promotion_s=0.1, promotion_w=0.8, idle_w=0.0)
    assert periodic_energy_per_hour(3.0, short_tail) == pytest.approx(1200 * (2.0 * 0.5 + 0.1 * 0.8))
    assert periodic_high_power_fraction(3.0, short_tail) == pytest.approx(2.1 / 3.0)


def test_per_client_vectorised_energy_equals_the_per_client_loop() -> None:
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 40, 3000)
    times = rng.uniform(0, HOUR, 3000)
    bulk = energy_joules_per_client(ids, times, 50, HOUR, MODEL)
    loop = [energy_joules(np.sort(times[ids == c]), HOUR, MODEL) for c in range(50)]
    np.testing.assert_allclose(bulk, loop, rtol=1e-12)
    assert bulk[45] == pytest.approx(HOUR * MODEL.idle_w)  # a client without activity idles


@pytest.mark.parametrize(
    ("times", "duration", "message"),
    [
        ([3.0, 1.0], HOUR, "sorted ascending"),
        ([1.0, 4000.0], HOUR, r"lie in \[0, 3600\]"),
        ([-1.0], HOUR, r"lie in \[0, 3600\]"),
        ([float("nan")], HOUR, "finite"),
        ([[1.0]], HOUR, "1-D"),
        ([1.0], 0.0, "duration_s must be a positive"),
    ],
)
def test_bad_activity_input_is_a_clear_error(times: list[float], duration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        energy_joules(np.array(times), duration, MODEL)


@pytest.mark.parametrize("field", ["promotion_s", "promotion_w", "tail_s", "tail_w", "idle_w"])
def test_negative_radio_parameter_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=f"RadioModel.{field} must be >= 0"):
        RadioModel(**{field: -1.0})


def test_periodic_closed_form_rejects_a_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval_s must be a positive"):
        periodic_energy_per_hour(0.0, MODEL)


activity = st.lists(st.floats(min_value=0.0, max_value=600.0, allow_nan=False), max_size=40).map(sorted)


@given(times=activity)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_any_activity_splits_the_window_exactly_into_states(times: list[float]) -> None:
    s = radio_states(np.array(times), 600.0, MODEL)
    assert min(s.connected_s, s.promotion_s, s.idle_s) >= 0
    assert s.connected_s + s.promotion_s + s.idle_s == pytest.approx(600.0)


@given(times=activity)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_energy_lies_between_idle_and_full_power(times: list[float]) -> None:
    joules = energy_joules(np.array(times), 600.0, MODEL)
    assert 600.0 * MODEL.idle_w - 1e-9 <= joules <= 600.0 * max(MODEL.tail_w, MODEL.promotion_w) + 1e-9
