"""The attachment store (claim check) and the limits per message."""

from __future__ import annotations

import hashlib

import pytest

from services.ingest.attachments import (
    AttachmentLimitError,
    AttachmentLimits,
    Blob,
    LocalAttachmentStore,
    S3StoreNotImplementedError,
    check_limits,
    s3_store,
)
from services.ingest.service import storable_key

LIMITS = AttachmentLimits(max_count=2, max_bytes=10, max_total_bytes=15)


def blob(size: int, name: str = "a.txt") -> Blob:
    return Blob(data=b"x" * size, filename=name, media_type="text/plain")


async def test_stored_by_content_hash_once(tmp_path):
    store = LocalAttachmentStore(tmp_path)
    data = b"%PDF-1.4 aanvraag"
    ref = await store.put(
        Blob(data=data, filename="../../etc/aanvraag.pdf", media_type="Application/PDF; name=x")
    )
    again = await store.put(Blob(data=data, filename="other.pdf", media_type="application/pdf"))
    assert ref.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.filename == "aanvraag.pdf"  # no path from the sender survives
    assert ref.media_type == "application/pdf"
    assert ref.size == len(data)
    assert await store.get(ref.sha256) == data
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [ref.sha256]


async def test_unknown_hash_and_odd_media_types(tmp_path):
    store = LocalAttachmentStore(tmp_path)
    with pytest.raises(KeyError):
        await store.get("0" * 64)
    with pytest.raises(KeyError):
        await store.get("../secrets")
    ref = await store.put(Blob(data=b"", filename="\x00\n", media_type="not a type"))
    assert (ref.filename, ref.media_type) == ("__", "application/octet-stream")
    await store.check()


@pytest.mark.parametrize(
    ("blobs", "fragment"),
    [
        ([blob(1)] * 3, "3 attachments; at most 2"),
        ([blob(11)], "attachment 1 has 11 bytes"),
        ([blob(8), blob(8)], "total 16 bytes"),
    ],
)
def test_limits_refuse_rather_than_truncate(blobs, fragment):
    with pytest.raises(AttachmentLimitError, match=fragment):
        check_limits(blobs, LIMITS)


def test_within_limits():
    check_limits([blob(10), blob(5)], LIMITS)


def test_s3_is_configured_but_refuses_to_start():
    with pytest.raises(S3StoreNotImplementedError, match="refuses to start"):
        s3_store("bucket", None, "attachments/")


def test_long_idempotency_keys_are_stored_by_hash():
    assert storable_key("short") == "short"
    long_key = "x" * 500 + "@example.nl"
    assert storable_key(long_key).startswith("sha256:")
    assert len(storable_key(long_key)) <= 200
    assert storable_key(long_key) == storable_key(long_key)
