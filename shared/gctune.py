"""The services' garbage collector: out of the way of batches and of requests.

A consumed batch holds hundreds of thousands of objects until its transaction commits.
Python's automatic collections (after 700 net new objects; every tenth walking the older
generations too) walked them again and again, and every full collection the whole
start-up heap: in the router that was 2 of 5.5 CPU seconds per 20,000 messages
(bench/router_stage.py). ``tune_gc`` (the service process, once started) moves the start-up
heap out of the collector's sight (``gc.freeze``) and makes the automatic collections a
backstop; ``collect_after_batch`` (after each commit) collects what a batch left behind,
once enough has accumulated that it is worth a walk. A service that answers requests
freezes its start-up heap only (``freeze_startup_heap``). Not called in test processes that
build an app in their own interpreter.
"""

from __future__ import annotations

import gc

_YOUNG = 1_000_000  # the youngest generation's threshold once tune_gc has run
_AFTER_BATCH = 20_000  # net new tracked objects that make a collection after a batch worth it


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG, 50, 1000)


def freeze_startup_heap() -> None:
    """For a service that mostly answers requests (caseview, ingest): the start-up heap out
    of the collector's sight, the thresholds as they are. Every full collection walked the
    whole start-up heap (the modules, FastAPI's routes, pydantic's and SQLAlchemy's
    structures): 100-170 ms each on the bench box, every read in flight waiting, the reads'
    p99 (#22). Now 6-25 ms; young collections stay small and frequent."""
    gc.collect()
    gc.freeze()


def collect_after_batch() -> None:
    """A full collection of what the last batches left, if ``tune_gc`` made that the way
    (small batches, as at a low arrival rate, only add up: no walk after each of them)."""
    if gc.get_threshold()[0] == _YOUNG and gc.get_count()[0] >= _AFTER_BATCH:
        gc.collect()
