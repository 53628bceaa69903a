"""The services' garbage-collector settings (shared/gctune.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.gctune import collect_after_batch, tune_gc, tune_gc_for_requests


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_a_request_service_freezes_its_start_up_heap_and_makes_full_collections_rare() -> None:
    gc.unfreeze()
    young, middle, _ = gc.get_threshold()
    tune_gc_for_requests()
    assert gc.get_freeze_count() > 1000  # the modules and everything built at start-up
    assert gc.get_threshold() == (young, middle, 1000)  # young ones stay small and frequent


@pytest.mark.usefixtures("restored_gc")
def test_a_consumer_makes_automatic_collections_a_backstop_and_collects_after_batches() -> None:
    gc.unfreeze()
    tune_gc()
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold()[0] == 1_000_000
    leftovers: list[list[object]] = []
    for _ in range(30_000):  # a batch's worth of cycles left behind
        cycle: list[object] = []
        cycle.append(cycle)
        leftovers.append(cycle)
    del leftovers, cycle
    assert gc.get_count()[0] >= 20_000
    collect_after_batch()
    assert gc.get_count()[0] < 1_000
