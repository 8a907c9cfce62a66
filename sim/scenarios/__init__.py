"""Scenario files shipped with pollbench (package data), e.g. the Bozdag et al. 2009 replication."""

from __future__ import annotations

from pathlib import Path

__all__ = ["scenario_path"]


def scenario_path(name: str) -> Path:
    """Path of a bundled scenario file by its name without ``.toml`` (``bozdag2009``)."""
    path = Path(__file__).with_name(f"{name}.toml")
    if not path.is_file():
        known = sorted(p.stem for p in Path(__file__).parent.glob("*.toml"))
        raise FileNotFoundError(f"no bundled scenario {name!r}; bundled: {', '.join(known)}")
    return path
