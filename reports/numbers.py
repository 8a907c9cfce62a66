"""How the report writes numbers: 3 significant digits, thousands separators, SI suffixes for huge counts."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fmt", "si"]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value: Any, digits: int = 3) -> str:
    """A number as a person reads it: 3 significant digits, thousands separators, '–' for missing."""
    x = _as_float(value)
    if x is None:
        return "–" if value is None else str(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def si(value: Any) -> str:
    """A large count with an SI suffix: 97 977 600 000 -> '98.0 G'; small counts as fmt()."""
    x = _as_float(value)
    if x is None or not math.isfinite(x):
        return fmt(value)
    for size, suffix in _SI:
        if abs(x) >= size:
            return f"{x / size:.3g} {suffix}"
    return fmt(x)
