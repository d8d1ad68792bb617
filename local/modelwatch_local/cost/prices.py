"""The list prices ``make cost`` uses, from ``prices.json`` beside this module (one file, dated, sourced)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")


class PriceError(ValueError):
    """The prices file is missing, malformed, or lacks an item the calculator needs."""


@dataclass(frozen=True)
class Prices:
    """Unit prices by item name: ``unit("lambda_request")`` is the price of one request."""

    region: str
    checked: str
    items: dict[str, dict[str, Any]]
    path: Path

    def unit(self, name: str) -> float:
        """Return the price of one unit of ``name`` (the file's price divided by its ``per``)."""
        item = self._item(name)
        price = item["price"]
        if not isinstance(price, int | float):
            raise PriceError(f"{self.path}: {name} has prices by kind; ask for one of {sorted(price)}")
        return float(price) / float(item.get("per", 1))

    def unit_of(self, name: str, kind: str) -> float:
        """Return the unit price of ``kind`` in an item priced by kind (e.g. RDS instance classes)."""
        item = self._item(name)
        table = item["price"]
        if not isinstance(table, dict) or kind not in table:
            raise PriceError(f"{self.path}: no {name} price for {kind!r} (known: {sorted(table)})")
        return float(table[kind]) / float(item.get("per", 1))

    def _item(self, name: str) -> dict[str, Any]:
        try:
            return self.items[name]
        except KeyError:
            raise PriceError(f"{self.path}: no price item {name!r}") from None


def load_prices(path: Path = PRICES_FILE) -> Prices:
    """Return the prices of ``path``.

    Raises
    ------
    PriceError
        When the file cannot be read, or an item has no numeric price, unit or source.
    """
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PriceError(f"{path}: cannot read prices ({error})") from None
    items = raw.get("items")
    if not isinstance(items, dict) or not items:
        raise PriceError(f"{path}: no 'items'")
    for name, item in items.items():
        price = item.get("price") if isinstance(item, dict) else None
        numeric = isinstance(price, int | float) or (
            isinstance(price, dict) and all(isinstance(v, int | float) for v in price.values())
        )
        if not numeric or not item.get("unit") or not item.get("source"):
            raise PriceError(f"{path}: item {name!r} needs a numeric price, a unit and a source")
    return Prices(region=str(raw.get("region")), checked=str(raw.get("checked")), items=items, path=path)
