"""Test-only fault injection: a supervised loop that dies on purpose.

``EENLOKET_TEST_FAIL_LOOP=<loop>:<n>`` makes the loop of that name (its name in ``Loops``:
``router-consumer``, ``outbox-relay``, ``caseview-projector``) raise ``InjectedLoopError``
right after its ``n``-th round: a consumer's ``n``-th committed batch (before its offsets go to
Kafka), the relay's ``n``-th published batch. Read only when ``EENLOKET_ENVIRONMENT=test``; in
any other environment the variable is ignored and no loop carries a hook.
tests/reliability/test_loop_death.py uses it to prove the liveness rule (docs/reliability.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from shared.settings import ServiceSettings

FAIL_LOOP = "EENLOKET_TEST_FAIL_LOOP"


class InjectedLoopError(RuntimeError):
    """Raised on purpose by a loop under test."""


def fail_after(settings: ServiceSettings, loop: str) -> Callable[[], None] | None:
    """The round counter of ``loop`` when a test asked it to fail, else None (always None
    outside the test environment)."""
    if settings.environment != "test":
        return None
    name, _, after = os.environ.get(FAIL_LOOP, "").rpartition(":")
    if name != loop:
        return None
    limit = int(after)
    rounds = 0

    def round_done() -> None:
        nonlocal rounds
        rounds += 1
        if rounds >= limit:
            raise InjectedLoopError(f"{loop} fails on purpose after {limit} rounds")

    return round_done
