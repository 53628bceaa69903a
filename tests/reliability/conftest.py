"""The reliability suite (docs/reliability.md): every test here is marked `reliability`.

Run with `make test-reliability` (full sizes) or `make test-reliability-ci` (the CI subset).
Sizes scale with EENLOKET_RELIABILITY_SCALE ("ci" or "full", default "full").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SCALE = os.environ.get("EENLOKET_RELIABILITY_SCALE", "full")
HISTORY_DIR = Path(os.environ.get("EENLOKET_RELIABILITY_HISTORY", ".local/reliability"))


def sized(ci: int, full: int) -> int:
    """A test size: the CI subset's or the full run's."""
    return ci if SCALE == "ci" else full


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)
