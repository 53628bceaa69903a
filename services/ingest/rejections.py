"""Why ingest refused a message: the ``reason`` label of ``eenloket_ingest_rejected_total``.

One vocabulary for the HTTP routes, the fast lane and the SMTP receiver, so an alert names a
reason every channel really records (``IngestRefusingForKafka`` matched a reason only SMTP
used; tests/unit/test_alert_rules.py now proves each alert against these values).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    MALFORMED = "malformed"
    HEADER_INJECTION = "header-injection"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    IN_PROGRESS = "in-progress"
    TOO_LARGE = "too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    INVALID = "invalid"
    RECIPIENT_NOT_OWNED = "recipient-not-owned"
    KAFKA_UNAVAILABLE = "kafka-unavailable"  # Kafka did not acknowledge: 503 / SMTP 451
    STORAGE_UNAVAILABLE = "storage-unavailable"  # the database or attachment store is away
    UNAVAILABLE = "unavailable"  # any other 503
    INTERNAL_ERROR = "internal-error"


# A refusal that carries no reason of its own is named by its status (a small, fixed set).
BY_STATUS: Mapping[int, Reason] = {
    400: Reason.MALFORMED,
    401: Reason.UNAUTHENTICATED,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    409: Reason.IN_PROGRESS,
    413: Reason.TOO_LARGE,
    415: Reason.UNSUPPORTED_MEDIA_TYPE,
    422: Reason.INVALID,
    503: Reason.UNAVAILABLE,
}


def reason_of(scope: Mapping[str, Any], status: int) -> str:
    """The reason a route stated (``ProblemError(reason=…)``), else the status's."""
    stated = scope.get("state", {}).get("problem_reason")
    if stated:
        return str(stated)
    known = BY_STATUS.get(status)
    return known.value if known is not None else f"http-{status // 100}xx"
