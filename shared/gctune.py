"""The services' garbage collector: out of the way of batches and of requests.

A consumed batch holds hundreds of thousands of objects until its transaction commits.
Python's automatic collections (after 700 net new objects; every tenth walking the older
generations too) walked them again and again, and every full collection the whole
start-up heap: in the router that was 2 of 5.5 CPU seconds per 20,000 messages
(bench/router_stage.py). ``tune_gc`` (the service process, once started) moves the start-up
heap out of the collector's sight (``gc.freeze``) and makes the automatic collections a
backstop; ``collect_after_batch`` (after each commit) collects what a batch left behind,
once enough has accumulated that it is worth a walk. A service that answers requests
freezes its start-up heap and makes full collections rare (``tune_gc_for_requests``).
Neither is called in test processes that build an app in their own interpreter.
"""

from __future__ import annotations

import gc

_YOUNG = 1_000_000  # the youngest generation's threshold once tune_gc has run
_AFTER_BATCH = 20_000  # net new tracked objects that make a collection after a batch worth it
_FULL_FOR_REQUESTS = 1000  # middle-generation collections per full one (CPython's default: 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG, 50, 1000)


def tune_gc_for_requests() -> None:
    """For a service that mostly answers requests (caseview, ingest): the start-up heap out
    of the collector's sight, and full collections rare. Every full collection walked the
    whole start-up heap (the modules, FastAPI's routes, pydantic's and SQLAlchemy's
    structures): 100-170 ms each on the bench box with every request in flight waiting,
    the reads' p99 (#22); frozen, still 6-25 ms about once a second at full load. Now one
    after a thousand collections of the middle generation (about every minute and a half
    at full load); the young collections stay small and frequent."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _FULL_FOR_REQUESTS)


def collect_after_batch() -> None:
    """A full collection of what the last batches left, if ``tune_gc`` made that the way
    (small batches, as at a low arrival rate, only add up: no walk after each of them)."""
    if gc.get_threshold()[0] == _YOUNG and gc.get_count()[0] >= _AFTER_BATCH:
        gc.collect()
