"""The fixtures file: the real users a load test acts as.

``pollbench serve --fixtures PATH`` writes it once the server listens: the base URL, every seeded
customer with its token and orders, and every admin with its token. Receiving clients take customers in
order (customer 0, 1, 2...), sender users post into those customers' orders, alternately with the
customer's token and an admin's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Admin", "Customer", "Fixtures", "FixturesError", "load_fixtures"]


class FixturesError(ValueError):
    """A fixtures file that is missing or not in the format ``pollbench serve --fixtures`` writes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """A seeded customer."""

    id: str
    """Customer id, used as the client id in delivery records."""
    name: str
    token: str
    """Bearer token (HMAC-signed by the server)."""
    orders: tuple[str, ...]
    """The customer's order ids."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Admin:
    """A seeded admin; admins reach every order."""

    id: str
    name: str
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixtures:
    """Everything in a fixtures file."""

    base_url: str
    customers: tuple[Customer, ...]
    admins: tuple[Admin, ...]


def _parse(data: Any, origin: str) -> Fixtures:
    try:
        customers = tuple(
            Customer(
                id=str(c["id"]),
                name=str(c["name"]),
                token=str(c["token"]),
                orders=tuple(map(str, c["orders"])),
            )
            for c in data["customers"]
        )
        admins = tuple(
            Admin(id=str(a["id"]), name=str(a["name"]), token=str(a["token"])) for a in data["admins"]
        )
        base_url = str(data["base_url"])
    except (KeyError, TypeError) as exc:
        raise FixturesError(f"{origin}: not a pollbench fixtures file (missing or bad {exc})") from None
    if not customers:
        raise FixturesError(f"{origin}: the fixtures list no customers; seed some with --seed-customers")
    return Fixtures(base_url=base_url, customers=customers, admins=admins)


def load_fixtures(path: str | Path) -> Fixtures:
    """Read and check a fixtures file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FixturesError(f"{p}: fixtures file not found (pollbench serve --fixtures writes one)") from None
    except json.JSONDecodeError as exc:
        raise FixturesError(f"{p}: not valid JSON ({exc})") from None
    return _parse(data, str(p))
