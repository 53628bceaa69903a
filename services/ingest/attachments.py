"""What ingest allows residents to send: how many attachments, how large (the store itself,
which keeps the bytes, is shared: shared/attachments.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.attachments import Blob


@dataclass(frozen=True)
class AttachmentLimits:
    max_count: int
    max_bytes: int
    max_total_bytes: int


class AttachmentLimitError(Exception):
    """Too many or too large attachments: the message is refused, never truncated."""


def check_limits(blobs: Sequence[Blob], limits: AttachmentLimits) -> None:
    if len(blobs) > limits.max_count:
        raise AttachmentLimitError(
            f"{len(blobs)} attachments; at most {limits.max_count} per message"
        )
    for number, blob in enumerate(blobs, start=1):
        if len(blob.data) > limits.max_bytes:
            raise AttachmentLimitError(
                f"attachment {number} has {len(blob.data)} bytes; "
                f"at most {limits.max_bytes} per attachment"
            )
    total = sum(len(b.data) for b in blobs)
    if total > limits.max_total_bytes:
        raise AttachmentLimitError(
            f"attachments total {total} bytes; at most {limits.max_total_bytes} per message"
        )
