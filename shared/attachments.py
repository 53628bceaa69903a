"""The attachment store: bytes by content hash, never on Kafka (claim check).

An event carries an ``AttachmentRef`` (sha256, name, type, size); whoever needs
the bytes fetches them from the store by hash: a local folder or an S3-compatible
bucket, both laid out as ``<ab>/<cd>/<sha256>``. Content addressing makes a
re-send free (same bytes, same path) and lets a store write be retried safely.
A message refused after its attachments were stored (Kafka down) leaves blobs
that a re-send will reuse; blobs no event references are harmless and are
left to a later garbage collection (not built yet).

One store, two users: ingest puts what residents send, the outbound service gets
what staff attach to a reply. Both build it from the same ``EENLOKET_ATTACHMENT_*``
variables (``AttachmentStoreSettings``, which their settings inherit).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.inbound import AttachmentRef
from shared.files import write_atomically
from shared.settings import empty_is_unset

if TYPE_CHECKING:  # boto3 is the optional extra ``s3``
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client

_T = TypeVar("_T")

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Blob:
    """An attachment as a channel delivered it, before it is stored."""

    data: bytes
    filename: str | None
    media_type: str


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
        return self.root / blob_key(sha256)

    async def put(self, blob: Blob) -> AttachmentRef:
        digest = hashlib.sha256(blob.data).hexdigest()
        await asyncio.to_thread(self._write, digest, blob.data)
        return _ref(blob, digest)

    def _write(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)

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


class AttachmentStoreUnavailableError(OSError):
    """The store did not answer (or refused): temporary, the message is not accepted.

    An ``OSError``, like a local disk failure, so the routes answer ``503`` and the
    SMTP receiver ``451``: the sender retries, nothing is published meanwhile.
    """


_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def s3_prefix(prefix: str) -> str:
    """The key prefix as ``a/b/`` (or empty): no leading slash, no empty or dot segments."""
    if not prefix:
        return ""
    segments = prefix.removesuffix("/").split("/")
    for segment in segments:
        if segment in {".", ".."} or not _PREFIX_SEGMENT.match(segment):
            raise ValueError(
                f"S3 key prefix {prefix!r}: segments of letters, digits and !_.*'()- "
                "separated by '/', without a leading '/', '//', '.' or '..'"
            )
    return "/".join(segments) + "/"


def s3_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"S3 bucket {bucket!r}: 3-63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


def blob_key(sha256: str, prefix: str = "") -> str:
    """The store's layout, the same in a folder and a bucket: ``<prefix>ab/cd/<sha256>``."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise KeyError(sha256)
    return f"{prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"


@dataclass(frozen=True)
class S3Config:
    """Where and how to reach the bucket; ``AttachmentStoreSettings.attachment_s3_config()``
    builds it.

    Without an access key boto3's own credential chain applies (``AWS_*`` variables,
    a web identity token, an instance profile).
    """

    bucket: str
    prefix: str = "attachments/"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    path_style: bool = False
    timeout_seconds: float = 5.0
    max_attempts: int = 3
    max_concurrency: int = 8

    def __post_init__(self) -> None:
        s3_bucket(self.bucket)
        object.__setattr__(self, "prefix", s3_prefix(self.prefix))
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("an S3 access key id needs its secret access key, and vice versa")
        if self.timeout_seconds <= 0 or self.max_attempts < 1 or self.max_concurrency < 1:
            raise ValueError("S3 timeout, attempts and concurrency must be positive")


def _missing(exc: ClientError) -> bool:
    """No such object (a missing bucket is an outage, not a missing object)."""
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code != "NoSuchBucket" and (status == 404 or code in {"404", "NoSuchKey", "NotFound"})


class S3AttachmentStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph): ``<prefix>ab/cd/<sha256>``.

    boto3 blocks, so every call runs on the store's own threads (``max_concurrency``
    of them, never the event loop's shared executor): a slow bucket cannot starve
    DNS look-ups or the local disk. A call that finds no free thread within the
    timeout fails like an unreachable bucket. Errors of boto3 become
    ``AttachmentStoreUnavailableError`` (an ``OSError``: 503, SMTP 451).
    """

    def __init__(self, client: S3Client, config: S3Config) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self._client = client
        self.config = config
        self._failures: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
        self._client_error = ClientError
        self._threads = ThreadPoolExecutor(
            max_workers=config.max_concurrency, thread_name_prefix="s3-attachments"
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._probe: asyncio.Future[None] | None = None

    @classmethod
    def connect(cls, config: S3Config) -> S3AttachmentStore:
        """A store with its own boto3 session and client (nothing is sent yet)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "EENLOKET_ATTACHMENT_STORE=s3 needs boto3: install eenloket[s3]"
            ) from exc
        session = boto3.session.Session()
        client = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                s3={"addressing_style": "path" if config.path_style else "auto"},
                connect_timeout=config.timeout_seconds,
                read_timeout=config.timeout_seconds,
                retries={"mode": "standard", "max_attempts": config.max_attempts},
                max_pool_connections=config.max_concurrency,
            ),
        )
        return cls(client, config)

    def key(self, sha256: str) -> str:
        return blob_key(sha256, self.config.prefix)

    async def _run(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise AttachmentStoreUnavailableError(
                f"S3 {operation}: all {self.config.max_concurrency} connections busy"
            ) from exc
        try:
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()
            return await loop.run_in_executor(self._threads, context.run, call)
        except self._failures as exc:
            # The error's class and code only: messages of some servers quote the key.
            code = (
                exc.response.get("Error", {}).get("Code")
                if isinstance(exc, self._client_error)
                else None
            )
            raise AttachmentStoreUnavailableError(
                f"S3 {operation} failed: {type(exc).__name__}" + (f" {code}" if code else "")
            ) from exc
        finally:
            self._slots.release()

    async def put(self, blob: Blob) -> AttachmentRef:
        digest = hashlib.sha256(blob.data).hexdigest()
        key = self.key(digest)
        await self._run("put", lambda: self._put(key, blob.data))
        return _ref(blob, digest)

    def _put(self, key: str, data: bytes) -> None:
        # A re-send costs one HEAD: the bytes under a hash never change.
        try:
            head = self._client.head_object(Bucket=self.config.bucket, Key=key)
            if head["ContentLength"] == len(data):
                return
        except self._client_error as exc:
            if not _missing(exc):
                raise
        self._client.put_object(
            Bucket=self.config.bucket,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
        )

    async def get(self, sha256: str) -> bytes:
        key = self.key(sha256)
        return await self._run("get", lambda: self._get(key, sha256))

    def _get(self, key: str, sha256: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.config.bucket, Key=key)
        except self._client_error as exc:
            if _missing(exc):
                raise KeyError(sha256) from exc
            raise
        return response["Body"].read()

    async def check(self) -> None:
        """Readiness: ``HeadBucket`` answers (reachable, bucket there, credentials valid).

        Concurrent probes share one request, so probes against a hanging bucket
        never pile up on the store's threads.
        """
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._run("check", self._head_bucket))
            # Read by whoever awaits it; this keeps an unawaited failure out of the log.
            self._probe.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(self._probe)

    def _head_bucket(self) -> None:
        self._client.head_bucket(Bucket=self.config.bucket)

    def close(self) -> None:
        """Release the threads and connections (calls still running finish first)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class AttachmentStoreSettings(BaseSettings):
    """Which store and where (``EENLOKET_ATTACHMENT_*``): ingest's and the outbound service's
    settings inherit it, so both open the same store from the same variables."""

    model_config = SettingsConfigDict(env_prefix="EENLOKET_", extra="ignore", frozen=True)

    attachment_store: Literal["local", "s3"] = "local"
    attachment_dir: Path = Path(".local/data/attachments")
    # The S3-compatible store (needs the extra ``eenloket[s3]``). No endpoint = AWS;
    # no access key = boto3's own chain (AWS_* variables, web identity, instance role).
    attachment_s3_bucket: str | None = None
    attachment_s3_endpoint_url: str | None = None
    attachment_s3_region: str | None = None
    attachment_s3_access_key_id: str | None = None
    attachment_s3_secret_access_key: SecretStr | None = None
    # MinIO and Ceph usually want path-style URLs (http://host/bucket/key).
    attachment_s3_path_style: bool = False
    attachment_s3_prefix: str = "attachments/"
    # Per connect and per read; boto3 retries up to max_attempts in all.
    attachment_s3_timeout_seconds: float = Field(default=5.0, gt=0)
    attachment_s3_max_attempts: int = Field(default=3, ge=1, le=10)
    # Threads (and connections) for the blocking boto3 calls.
    attachment_s3_max_concurrency: int = Field(default=8, ge=1, le=64)

    _empty_s3_is_unset = field_validator(
        "attachment_s3_bucket",
        "attachment_s3_endpoint_url",
        "attachment_s3_region",
        "attachment_s3_access_key_id",
        "attachment_s3_secret_access_key",
        mode="before",
    )(staticmethod(empty_is_unset))

    @field_validator("attachment_s3_bucket")
    @classmethod
    def _valid_bucket(cls, bucket: str | None) -> str | None:
        return None if bucket is None else s3_bucket(bucket)

    @field_validator("attachment_s3_prefix")
    @classmethod
    def _valid_prefix(cls, prefix: str) -> str:
        return s3_prefix(prefix)

    @field_validator("attachment_s3_endpoint_url")
    @classmethod
    def _valid_endpoint(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
            raise ValueError(f"S3 endpoint {url!r} is not an http(s) URL")
        return url

    @model_validator(mode="after")
    def _s3_complete(self) -> AttachmentStoreSettings:
        if self.attachment_store == "s3" and self.attachment_s3_bucket is None:
            raise ValueError("EENLOKET_ATTACHMENT_STORE=s3 needs EENLOKET_ATTACHMENT_S3_BUCKET")
        if (self.attachment_s3_access_key_id is None) != (
            self.attachment_s3_secret_access_key is None
        ):
            raise ValueError(
                "EENLOKET_ATTACHMENT_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY go together"
            )
        return self

    def attachment_s3_config(self) -> S3Config:
        if self.attachment_s3_bucket is None:
            raise ValueError("EENLOKET_ATTACHMENT_S3_BUCKET is not set")
        secret = self.attachment_s3_secret_access_key
        return S3Config(
            bucket=self.attachment_s3_bucket,
            prefix=self.attachment_s3_prefix,
            endpoint_url=self.attachment_s3_endpoint_url,
            region=self.attachment_s3_region,
            access_key_id=self.attachment_s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            path_style=self.attachment_s3_path_style,
            timeout_seconds=self.attachment_s3_timeout_seconds,
            max_attempts=self.attachment_s3_max_attempts,
            max_concurrency=self.attachment_s3_max_concurrency,
        )


def open_attachment_store(settings: AttachmentStoreSettings) -> AttachmentStore:
    """The configured store (nothing is sent yet; ``check()`` probes it)."""
    if settings.attachment_store == "s3":
        return S3AttachmentStore.connect(settings.attachment_s3_config())
    return LocalAttachmentStore(settings.attachment_dir)
