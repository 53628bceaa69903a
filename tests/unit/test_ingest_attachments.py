"""The attachment store (claim check) and the limits per message."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any, cast

import pytest
from moto import mock_aws
from pydantic import ValidationError

from services.ingest.attachments import AttachmentLimitError, AttachmentLimits, check_limits
from services.ingest.config import IngestSettings
from services.ingest.service import storable_key
from shared.attachments import (
    AttachmentStoreUnavailableError,
    Blob,
    LocalAttachmentStore,
    S3AttachmentStore,
    S3Config,
    blob_key,
    s3_prefix,
)
from shared.devstack import free_port
from tests.support import eventually

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


SHA = hashlib.sha256(b"aanvraag").hexdigest()


def test_the_same_layout_in_a_folder_and_a_bucket(tmp_path):
    assert blob_key(SHA, "attachments/") == f"attachments/{SHA[:2]}/{SHA[2:4]}/{SHA}"
    local = LocalAttachmentStore(tmp_path).path(SHA)
    assert local.relative_to(tmp_path).as_posix() == blob_key(SHA)
    store = S3AttachmentStore(cast(Any, object()), S3Config(bucket="eenloket", prefix="a/b"))
    assert store.key(SHA) == f"a/b/{SHA[:2]}/{SHA[2:4]}/{SHA}"
    for bad in ("../../etc/passwd", SHA.upper(), SHA[:-1], ""):
        with pytest.raises(KeyError):
            store.key(bad)


@pytest.mark.parametrize(
    ("prefix", "normal"),
    [("", ""), ("attachments", "attachments/"), ("gemeente/ingest/", "gemeente/ingest/")],
)
def test_s3_prefix_is_normalised(prefix, normal):
    assert s3_prefix(prefix) == normal


@pytest.mark.parametrize("prefix", ["/attachments/", "a//b/", "../x/", "a/./b", "met spatie/"])
def test_odd_s3_prefixes_are_refused(prefix):
    with pytest.raises(ValueError, match="S3 key prefix"):
        s3_prefix(prefix)


def test_s3_settings_from_the_environment(monkeypatch):
    for name, value in {
        "STORE": "s3",
        "S3_BUCKET": "eenloket-bijlagen",
        "S3_ENDPOINT_URL": "http://minio.internal:9000",
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "ingest",
        "S3_SECRET_ACCESS_KEY": "geheim-wachtwoord",
        "S3_PATH_STYLE": "true",
        "S3_PREFIX": "ingest",
        "S3_TIMEOUT_SECONDS": "2.5",
        "S3_MAX_CONCURRENCY": "4",
    }.items():
        monkeypatch.setenv(f"EENLOKET_ATTACHMENT_{name}", value)
    settings = IngestSettings()
    config = settings.attachment_s3_config()
    assert config == S3Config(
        bucket="eenloket-bijlagen",
        prefix="ingest/",
        endpoint_url="http://minio.internal:9000",
        region="us-east-1",
        access_key_id="ingest",
        secret_access_key="geheim-wachtwoord",
        path_style=True,
        timeout_seconds=2.5,
        max_attempts=3,
        max_concurrency=4,
    )
    assert "geheim" not in repr(settings) and "geheim" not in repr(config)


def test_empty_s3_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("EENLOKET_ATTACHMENT_S3_ENDPOINT_URL", "")
    monkeypatch.setenv("EENLOKET_ATTACHMENT_S3_ACCESS_KEY_ID", "")
    monkeypatch.setenv("EENLOKET_ATTACHMENT_S3_SECRET_ACCESS_KEY", "")
    settings = IngestSettings(attachment_store="s3", attachment_s3_bucket="eenloket")
    config = settings.attachment_s3_config()
    assert (config.endpoint_url, config.access_key_id, config.secret_access_key) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"attachment_store": "s3"}, "needs EENLOKET_ATTACHMENT_S3_BUCKET"),
        ({"attachment_s3_bucket": "Mijn_Bucket"}, "S3 bucket"),
        ({"attachment_s3_endpoint_url": "minio:9000"}, "not an http"),
        ({"attachment_s3_prefix": "/root"}, "S3 key prefix"),
        ({"attachment_s3_access_key_id": "ingest"}, "go together"),
        ({"attachment_s3_timeout_seconds": 0}, "greater than 0"),
    ],
)
def test_unusable_s3_settings_refuse_to_start(values, fragment):
    with pytest.raises(ValidationError, match=fragment):
        IngestSettings(**values)


@pytest.fixture
def aws():
    """moto's S3 inside this process (boto3 calls from any thread are answered)."""
    with mock_aws():
        yield


async def test_s3_store_puts_once_by_hash_and_gets_back(aws):
    config = S3Config(
        bucket="eenloket", region="eu-west-1", access_key_id="k", secret_access_key="s"
    )
    store = S3AttachmentStore.connect(config)
    client = cast(Any, store)._client
    client.create_bucket(
        Bucket="eenloket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    puts: list[str] = []
    client.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
    try:
        await store.check()
        data = b"%PDF-1.4 aanvraag"
        ref = await store.put(Blob(data=data, filename="a/b.pdf", media_type="application/pdf"))
        again = await store.put(Blob(data=data, filename="c.pdf", media_type="application/pdf"))
        assert ref.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
        assert (ref.filename, ref.size) == ("b.pdf", len(data))
        assert puts == ["put"]  # the second put found the object and sent nothing
        listed = client.list_objects_v2(Bucket="eenloket")["Contents"]
        assert [o["Key"] for o in listed] == [store.key(ref.sha256)]
        assert await store.get(ref.sha256) == data
        with pytest.raises(KeyError):
            await store.get("0" * 64)
    finally:
        store.close()


async def test_a_missing_bucket_is_not_ready(aws):
    config = S3Config(bucket="bestaat-niet", access_key_id="k", secret_access_key="s")
    store = S3AttachmentStore.connect(config)
    try:
        with pytest.raises(AttachmentStoreUnavailableError, match="check failed: ClientError 404"):
            await store.check()
        # An object in a missing bucket is an outage, not an unknown hash.
        with pytest.raises(AttachmentStoreUnavailableError, match="NoSuchBucket"):
            await store.get(SHA)
        with pytest.raises(AttachmentStoreUnavailableError, match="NoSuchBucket"):
            await store.put(blob(3))
    finally:
        store.close()


async def test_an_unreachable_store_is_a_temporary_os_error():
    config = S3Config(
        bucket="eenloket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        access_key_id="k",
        secret_access_key="s",
        timeout_seconds=2,
        max_attempts=1,
    )
    store = S3AttachmentStore.connect(config)
    try:
        with pytest.raises(OSError, match="S3 put failed: EndpointConnectionError"):
            await store.put(blob(3))
        with pytest.raises(
            AttachmentStoreUnavailableError, match="check failed: EndpointConnectionError"
        ):
            await store.check()
    finally:
        store.close()


class HangingClient:
    """Stands in for a bucket that does not answer until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def head_bucket(self, **params: str) -> None:
        self.calls += 1
        assert self.release.wait(10)

    def head_object(self, **params: str) -> dict[str, int]:
        self.calls += 1
        assert self.release.wait(10)
        return {"ContentLength": 3}

    def close(self) -> None:
        pass


async def test_probes_share_one_request_and_calls_are_bounded():
    client = HangingClient()
    config = S3Config(bucket="eenloket", timeout_seconds=0.2, max_concurrency=1)
    store = S3AttachmentStore(cast(Any, client), config)
    try:
        probes = [asyncio.create_task(store.check()) for _ in range(5)]
        # The event loop runs on while the request hangs in a thread.
        await eventually(lambda: asyncio.sleep(0, client.calls == 1), timeout=5)
        # The one thread is taken: another call waits at most the timeout, then gives up.
        with pytest.raises(AttachmentStoreUnavailableError, match="connections busy"):
            await store.put(blob(3))
        client.release.set()
        await asyncio.gather(*probes)
        assert client.calls == 1
        await store.put(blob(3))  # a free thread again; the object exists, nothing is sent
        assert client.calls == 2
    finally:
        client.release.set()
        store.close()


def test_long_idempotency_keys_are_stored_by_hash():
    assert storable_key("short") == "short"
    long_key = "x" * 500 + "@example.nl"
    assert storable_key(long_key).startswith("sha256:")
    assert len(storable_key(long_key)) <= 200
    assert storable_key(long_key) == storable_key(long_key)
