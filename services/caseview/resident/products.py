"""Products and teams in plain words: the routing file's product names and team names."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml


@functools.cache
def product_names(path: Path) -> dict[str, str]:
    """Product id (upl) -> its first name in the routing file, capitalised ("Bijzondere
    bijstand"). Read once; an unreadable file gives no names (the id is shown instead)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    products = doc.get("products") if isinstance(doc, dict) else None
    names: dict[str, str] = {}
    for p in products if isinstance(products, list) else []:
        if not isinstance(p, dict) or not isinstance(p.get("upl"), str):
            continue
        listed = p.get("names")
        first = listed[0] if isinstance(listed, list) and listed else p["upl"]
        names[p["upl"].casefold()] = str(first)[:1].upper() + str(first)[1:]
    return names


def plain_product(path: Path, product: str | None) -> str | None:
    if product is None:
        return None
    return product_names(path).get(product.casefold(), product)
