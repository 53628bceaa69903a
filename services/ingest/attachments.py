"""The attachment store: bytes by content hash, never on Kafka (claim check).

An event carries an ``AttachmentRef`` (sha256, name, type, size); whoever needs
the bytes fetches them from the store by hash. Content addressing makes a
re-send free (same bytes, same path) and lets a store write be retried safely.
A message refused after its attachments were stored (Kafka down) leaves blobs
that a re-send will reuse; blobs no event references are harmless and are
left to a later garbage collection (not built yet).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.contracts.inbound import AttachmentRef

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Blob:
    """An attachment as a channel delivered it, before it is stored."""

    data: bytes
    filename: str | None
    media_type: str


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


def safe_filename(name: str | None) -> str | None:
    """The last path segment, without control characters, at most 255 characters."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip()
    return name[:255] or None


def safe_media_type(media_type: str | None) -> str:
    """A plausible ``type/subtype``; anything else is stored as opaque bytes."""
    value = (media_type or "").split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


class AttachmentStore(Protocol):
    async def put(self, blob: Blob) -> AttachmentRef:
        """Store the bytes (idempotently) and return the claim check."""
        ...

    async def get(self, sha256: str) -> bytes:
        """The bytes stored under this hash (``KeyError`` if none)."""
        ...

    async def check(self) -> None:
        """Readiness: raise if the store cannot be written."""
        ...


def _ref(blob: Blob, digest: str) -> AttachmentRef:
    return AttachmentRef(
        sha256=digest,
        filename=safe_filename(blob.filename),
        media_type=safe_media_type(blob.media_type),
        size=len(blob.data),
    )


class LocalAttachmentStore:
    """A folder: ``<root>/ab/cd/<sha256>``. Writes are atomic (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise KeyError(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, blob: Blob) -> AttachmentRef:
        digest = hashlib.sha256(blob.data).hexdigest()
        await asyncio.to_thread(self._write, digest, blob.data)
        return _ref(blob, digest)

    def _write(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise KeyError(sha256) from exc

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError("attachment folder is not writable")

        await asyncio.to_thread(probe)


class S3StoreNotImplementedError(RuntimeError):
    pass


def s3_store(bucket: str | None, endpoint_url: str | None, prefix: str) -> AttachmentStore:
    """The S3-compatible store: configuration exists, the implementation does not yet.

    It would implement ``AttachmentStore`` with boto3 (an optional extra) through
    ``asyncio.to_thread``: ``put`` = ``put_object(Key=prefix+sha256)`` unless
    ``head_object`` finds it, ``get`` = ``get_object``, ``check`` = ``head_bucket``.
    Until then ingest refuses to start with this setting rather than lose attachments.
    """
    raise S3StoreNotImplementedError(
        "EENLOKET_ATTACHMENT_STORE=s3 is not implemented yet: ingest refuses to start. "
        "Use EENLOKET_ATTACHMENT_STORE=local with EENLOKET_ATTACHMENT_DIR on shared storage."
    )
