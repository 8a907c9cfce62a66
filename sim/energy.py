"""Mobile radio energy: why a short poll interval drains a phone even when nothing happens.

An LTE modem is a state machine (RRC). Idle, it sips ~10 mW. To send or receive anything it must first be
*promoted* to the connected state (~0.26 s at ~1.2 W), and after the last packet it stays in high power for an
inactivity *tail* (~11.6 s at ~1.06 W) in case more data follows, before dropping back to idle. Every packet
restarts the tail. Orders of magnitude from Huang et al., "A Close Examination of Performance and Power
Characteristics of 4G LTE Networks", MobiSys 2012 (their Table 3: promotion 260 ms / 1210 mW, tail 11.6 s /
1060 mW, idle ~11 mW).

Consequence the seed's "mobile battery drain" note only hints at: any poll interval shorter than the tail
keeps the radio in high power *all the time* -- poll:3, poll:5 and poll:10 all cost ~1.06 W * 3600 s
~= 3.8 kJ per client-hour, whatever the payload. Only intervals longer than the tail let it rest.

The model, per client over [0, duration] given the sorted instants of network activity t_1 <= ... <= t_n:

- between two activities a gap g <= tail keeps the radio in high power for the whole gap;
- a gap g > tail costs a full tail, then idle, and the promotion that precedes the next activity occupies the
  last `promotion_s` of the idle stretch (clipped if the stretch is shorter);
- the radio starts idle at 0 (the first activity needs a promotion) and after the last activity keeps its
  tail until the end of the window.

The time in the three states adds up to `duration` exactly. Energy of the transfer itself is not modelled
separately: a poll of a few KB lasts about one RTT, during which the radio draws roughly tail power, and
Huang et al. show the tail dominates the energy of small periodic transfers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = [
    "RadioModel",
    "RadioStates",
    "energy_joules",
    "energy_joules_per_client",
    "high_power_fraction",
    "periodic_energy_per_hour",
    "periodic_high_power_fraction",
    "radio_states",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RadioModel:
    """LTE RRC power model (defaults: Huang et al., MobiSys 2012); every parameter overridable."""

    promotion_s: float = 0.26
    """Seconds to promote the radio from idle to connected before the first packet can go."""
    promotion_w: float = 1.2
    """Watts drawn while promoting."""
    tail_s: float = 11.6
    """Inactivity timer: seconds the radio stays in high power after the last packet."""
    tail_w: float = 1.06
    """Watts drawn in the connected/tail state."""
    idle_w: float = 0.01
    """Watts drawn in RRC idle (paging cycles included)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"RadioModel.{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"RadioModel.{f.name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RadioStates:
    """Seconds one client's radio spent in each RRC state over the window; they add up to the window."""

    connected_s: float
    """High power: the tail after each activity (restarted by every packet)."""
    promotion_s: float
    """Promoting from idle to connected before an activity."""
    idle_s: float
    """Idle, drawing almost nothing."""
    promotions: int
    """Number of idle -> connected promotions."""

    def energy_joules(self, model: RadioModel) -> float:
        """Joules: each state's time times its power."""
        return (
            self.connected_s * model.tail_w
            + self.promotion_s * model.promotion_w
            + self.idle_s * model.idle_w
        )

    @property
    def high_power_s(self) -> float:
        """Seconds in a high-power state (connected or promoting)."""
        return self.connected_s + self.promotion_s


def _checked_times(activity_times_s: npt.ArrayLike, duration_s: float) -> npt.NDArray[np.float64]:
    if not (isinstance(duration_s, int | float) and math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a positive finite number of seconds, got {duration_s!r}")
    t = np.asarray(activity_times_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"activity times must be a 1-D array, got shape {t.shape}")
    if t.size and not np.all(np.isfinite(t)):
        raise ValueError("activity times must be finite")
    if t.size and (t[0] < 0 or t[-1] > duration_s):
        raise ValueError(f"activity times must lie in [0, {duration_s:g}] s, got {t[0]:g} .. {t[-1]:g}")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise ValueError("activity times must be sorted ascending")
    return t


def radio_states(activity_times_s: npt.ArrayLike, duration_s: float, model: RadioModel) -> RadioStates:
    """Time in each RRC state for one client over [0, duration] given its sorted activity instants.

    Vectorised over the gaps between activities: connected time is sum(min(gap, tail)) plus the final tail
    (cut at the window's end); the idle stretch before each promoted activity is max(gap - tail, 0) (the whole
    lead-in before the first activity), of which the promotion takes min(stretch, promotion_s).
    """
    t = _checked_times(activity_times_s, duration_s)
    if t.size == 0:
        return RadioStates(connected_s=0.0, promotion_s=0.0, idle_s=float(duration_s), promotions=0)
    gaps = np.diff(t)
    after_last = duration_s - t[-1]
    connected = float(np.minimum(gaps, model.tail_s).sum() + min(after_last, model.tail_s))
    # Idle stretches ending in a promotion: the lead-in before the first activity, every gap beyond a tail.
    stretches = np.concatenate(([t[0]], np.maximum(gaps - model.tail_s, 0.0)))
    promoting = np.minimum(stretches, model.promotion_s)
    idle = float((stretches - promoting).sum() + max(after_last - model.tail_s, 0.0))
    promotions = 1 + int(np.count_nonzero(gaps > model.tail_s))
    return RadioStates(
        connected_s=connected, promotion_s=float(promoting.sum()), idle_s=idle, promotions=promotions
    )


def energy_joules(activity_times_s: npt.ArrayLike, duration_s: float, model: RadioModel) -> float:
    """Radio energy in joules of one client over [0, duration] given sorted times of its network activity.

    Activity means any packet to or from the client: a poll, a pushed event, a heartbeat or ping.
    """
    return radio_states(activity_times_s, duration_s, model).energy_joules(model)


def high_power_fraction(activity_times_s: npt.ArrayLike, duration_s: float, model: RadioModel) -> float:
    """Share of the window one client's radio spends in high power (connected or promoting), 0..1."""
    return radio_states(activity_times_s, duration_s, model).high_power_s / duration_s


def energy_joules_per_client(
    client_ids: npt.ArrayLike,
    activity_times_s: npt.ArrayLike,
    clients: int,
    duration_s: float,
    model: RadioModel,
) -> npt.NDArray[np.float64]:
    """Energy of every client at once from flat (client id, time) activity records, in any order.

    Same model as :func:`energy_joules`, vectorised across clients (one sort, no Python loop per client), for
    runs with 10^5 clients. Returns an array of length `clients`; clients without activity stay idle.
    """
    ids = np.asarray(client_ids, dtype=np.int64)
    times = np.asarray(activity_times_s, dtype=np.float64)
    if ids.shape != times.shape or ids.ndim != 1:
        raise ValueError(f"client ids {ids.shape} and times {times.shape} must be 1-D arrays of equal length")
    if ids.size and (ids.min() < 0 or ids.max() >= clients):
        raise ValueError(f"client ids must lie in [0, {clients}), got {ids.min()} .. {ids.max()}")
    _checked_times(np.sort(times), duration_s)
    energy = np.full(clients, duration_s * model.idle_w)
    if ids.size == 0:
        return energy
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    first = np.r_[True, ids[1:] != ids[:-1]]
    last = np.r_[ids[1:] != ids[:-1], True]
    gaps = np.diff(times, prepend=0.0)
    # Lead-in stretch before a client's first activity is its idle time since 0 (ends in a promotion).
    stretch = np.where(first, times, np.maximum(gaps - model.tail_s, 0.0))
    connected = np.where(first, 0.0, np.minimum(gaps, model.tail_s))
    promoting = np.minimum(stretch, model.promotion_s)
    idle = stretch - promoting
    after = duration_s - times
    connected = connected + np.where(last, np.minimum(after, model.tail_s), 0.0)
    idle = idle + np.where(last, np.maximum(after - model.tail_s, 0.0), 0.0)
    per_record = connected * model.tail_w + promoting * model.promotion_w + idle * model.idle_w
    energy[np.unique(ids)] = 0.0
    np.add.at(energy, ids, per_record)
    return energy


def _periodic_cycle(interval_s: float, model: RadioModel) -> tuple[float, float, float]:
    """(connected, promoting, idle) seconds in one period of strictly periodic activity, long-run."""
    if not (isinstance(interval_s, int | float) and math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval_s must be a positive finite number of seconds, got {interval_s!r}")
    connected = min(interval_s, model.tail_s)
    stretch = max(interval_s - model.tail_s, 0.0)
    promoting = min(stretch, model.promotion_s)
    return connected, promoting, stretch - promoting


def periodic_energy_per_hour(interval_s: float, model: RadioModel) -> float:
    """Closed form: joules per hour of a radio woken every `interval_s` seconds, long-run (no edge effects).

    I <= tail: the radio never leaves high power, 3600 * tail_w (~3816 J with the defaults).
    I > tail: per period tail*tail_w + p*promotion_w + (I - tail - p)*idle_w
    with p = min(promotion, I - tail), times 3600 / I periods.
    """
    connected, promoting, idle = _periodic_cycle(interval_s, model)
    per_cycle = connected * model.tail_w + promoting * model.promotion_w + idle * model.idle_w
    return per_cycle * 3600.0 / interval_s


def periodic_high_power_fraction(interval_s: float, model: RadioModel) -> float:
    """Closed form: long-run high-power share for activity every `interval_s`: min(1, (tail + p) / I)."""
    connected, promoting, _ = _periodic_cycle(interval_s, model)
    return (connected + promoting) / interval_s
