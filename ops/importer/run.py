"""The import run: rows checked, encoded and sent in per-partition batches, each chunk's
acknowledgements awaited while the next is sent, and checkpointed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from ops.importer.encoding import MessageIds, SenderKeys, encode
from ops.importer.files import (
    Checkpoint,
    ImportFileError,
    _Counter,
    check_csv_header,
    detect_format,
    file_sha256,
    read_rows,
)
from ops.importer.rows import Options, RowError, parse_row
from shared.kafka.config import make_producer
from shared.kafka.headers import outgoing_headers

CHUNK = 5_000


@dataclass
class Summary:
    """What one run did. ``skipped``: rows a previous run already finished."""

    read: int = 0
    published: int = 0
    rejected: int = 0
    skipped: int = 0
    seconds: float = 0.0
    bytes_done: int = 0
    bytes_total: int = 0
    interrupted: bool = False
    resumed: bool = False
    total_published: int = 0  # including earlier runs of the same file
    total_rejected: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Target:
    """Where the events go. ``producer`` None: a dry run (validate only)."""

    producer: AIOKafkaProducer | None
    topic: str
    source: str
    key_secret: bytes


class _Batches:
    """Records grouped into one batch per partition, sent with ``send_batch``: a third of
    the CPU of ``send()`` per record. The partition is the one ``send()`` would pick for
    the key (the default partitioner, murmur2), so a sender's imported and live messages
    share a partition, as they would through ingest."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: list[int]) -> None:
        self._producer, self._topic, self._partitions = producer, topic, sorted(partitions)
        self._open: dict[int, Any] = {}
        self._by_key: dict[bytes, int] = {}
        self.futures: list[asyncio.Future[Any]] = []

    def _partition(self, key: bytes) -> int:
        found = self._by_key.get(key)
        if found is None:
            found = self._partitions[(murmur2(key) & 0x7FFFFFFF) % len(self._partitions)]
            if len(self._by_key) < 1_000_000:
                self._by_key[key] = found
        return found

    async def add(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        partition = self._partition(key)
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._send(partition, batch)
            batch = self._open[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise RowError("the record is larger than a Kafka batch")

    async def _send(self, partition: int, batch: Any) -> None:
        batch.close()
        self.futures.append(
            await self._producer.send_batch(batch, self._topic, partition=partition)
        )

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Send every open batch; return the futures of everything sent since last time."""
        for partition, batch in list(self._open.items()):
            await self._send(partition, batch)
        self._open.clear()
        futures, self.futures = self.futures, []
        return futures


@dataclass
class _Chunk:
    last_row: int
    futures: list[asyncio.Future[Any]]
    published: int
    rejected: int
    reject_bytes: int


def default_paths(path: Path, *, dry_run: bool = False) -> tuple[Path, Path]:
    """(checkpoint, reject file) beside the input. A dry run has its own reject file, so it
    never overwrites the rejects of a real import in progress."""
    rejects = ".dry-run.rejects.ndjson" if dry_run else ".rejects.ndjson"
    return path.with_name(path.name + ".checkpoint.json"), path.with_name(path.name + rejects)


def _prepare(
    path: Path,
    fmt: str | None,
    options: Options,
    checkpoint_path: Path | None,
    reject_path: Path | None,
    use_checkpoint: bool,
) -> tuple[str, Checkpoint, Path, IO[bytes], int]:
    """Check the file and its checkpoint; open the reject file at the checkpointed length."""
    fmt = detect_format(path, fmt)
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    default_checkpoint, default_rejects = default_paths(path, dry_run=not use_checkpoint)
    checkpoint_path = checkpoint_path or default_checkpoint
    reject_path = reject_path or default_rejects
    if fmt == "csv":
        check_csv_header(path)
    sha = file_sha256(path)
    state = Checkpoint.load(checkpoint_path) if use_checkpoint else None
    if state is not None and state.file_sha256 != sha:
        raise ImportFileError(
            f"checkpoint {checkpoint_path.name} belongs to another file (the contents changed); "
            "move it away to import this file as a new one"
        )
    if state is not None and state.trust_verified != options.trust_verified:
        raise ImportFileError(
            "the checkpoint was made with"
            + ("" if state.trust_verified else "out")
            + " --trust-verified; resume with the same trust setting"
        )
    state = state or Checkpoint(file_sha256=sha, trust_verified=options.trust_verified)
    # The reject file holds exactly the rejects of the checkpointed rows, then the new ones.
    rejects = reject_path.open("r+b" if state.row and reject_path.exists() else "wb")
    rejects.truncate(state.reject_bytes if state.row else 0)
    rejects.seek(0, io.SEEK_END)
    return sha, state, checkpoint_path, rejects, path.stat().st_size


async def import_contacts(
    path: Path,
    target: Target,
    *,
    fmt: str | None = None,
    options: Options | None = None,
    checkpoint_path: Path | None = None,
    reject_path: Path | None = None,
    progress: Callable[[Summary], None] | None = None,
    stop: asyncio.Event | None = None,
    chunk: int = CHUNK,
    use_checkpoint: bool = True,
) -> Summary:
    """Import ``path``; resume from its checkpoint if there is one.

    ``use_checkpoint`` False (a dry run): neither read nor write the checkpoint.

    ``progress`` is called after each chunk; ``stop`` set ends the run at the next
    chunk boundary with everything sent acknowledged and checkpointed.
    """
    options = options or Options()
    started = time.perf_counter()
    sha, state, checkpoint_file, rejects, size = await asyncio.to_thread(
        _prepare, path, fmt, options, checkpoint_path, reject_path, use_checkpoint
    )
    fmt = detect_format(path, fmt)
    summary = Summary(bytes_total=size, resumed=state.row > 0 or state.complete)
    summary.total_published, summary.total_rejected = state.published, state.rejected

    keys = SenderKeys(target.key_secret)
    headers = outgoing_headers()
    producer, source = target.producer, target.source
    ids = MessageIds(sha)
    batches = (
        _Batches(producer, target.topic, list(await producer.partitions_for(target.topic)))
        if producer is not None
        else None
    )
    counter = _Counter()
    pending: deque[_Chunk] = deque()
    in_chunk = published = rejected = 0
    last_row = state.row

    def reject(row: int, original: Any, reason: str) -> None:
        nonlocal rejected
        rejects.write(orjson.dumps({"row": row, "reason": reason, "original": original}) + b"\n")
        rejected += 1
        summary.rejected += 1
        label = reason.split(":", 1)[0]
        summary.reject_reasons[label] = summary.reject_reasons.get(label, 0) + 1

    async def drain(done: _Chunk) -> None:
        if done.futures:
            await asyncio.gather(*done.futures)
        state.row = done.last_row
        state.published += done.published
        state.rejected += done.rejected
        state.reject_bytes = done.reject_bytes
        summary.total_published, summary.total_rejected = state.published, state.rejected
        if use_checkpoint:
            await asyncio.to_thread(state.save, checkpoint_file)

    def report() -> None:
        summary.seconds = time.perf_counter() - started
        summary.bytes_done = counter.done
        if progress is not None:
            progress(summary)

    try:
        for row, raw, original, unreadable in read_rows(path, fmt, counter):
            if row <= state.row:
                summary.skipped += 1
                continue
            summary.read += 1
            last_row = row
            in_chunk += 1
            if unreadable is not None or raw is None:
                reject(row, original, unreadable or "unreadable")
            else:
                try:
                    contact = parse_row(raw, row, options)
                except RowError as exc:
                    reject(row, original, str(exc))
                else:
                    mid = ids(row)
                    value = encode(contact, mid, source)
                    if batches is not None:
                        await batches.add(keys.key(contact, mid), value, headers)
                    published += 1
                    summary.published += 1
            if in_chunk >= chunk:
                rejects.flush()
                os.fsync(rejects.fileno())
                futures = await batches.flush() if batches is not None else []
                pending.append(_Chunk(last_row, futures, published, rejected, rejects.tell()))
                in_chunk, published, rejected = 0, 0, 0
                while len(pending) > 1:  # one chunk in flight while the next is sent
                    await drain(pending.popleft())
                report()
                if stop is not None and stop.is_set():
                    summary.interrupted = True
                    break
                await asyncio.sleep(0)  # let the producer's sender run
        rejects.flush()
        os.fsync(rejects.fileno())
        if in_chunk:
            futures = await batches.flush() if batches is not None else []
            pending.append(_Chunk(last_row, futures, published, rejected, rejects.tell()))
        while pending:
            await drain(pending.popleft())
        if not summary.interrupted:
            state.complete = True
            if use_checkpoint:
                await asyncio.to_thread(state.save, checkpoint_file)
    finally:
        with contextlib.suppress(Exception):
            rejects.close()
    report()
    return summary


async def import_to_kafka(
    path: Path,
    *,
    bootstrap: str,
    topic: str,
    source: str,
    key_secret: bytes,
    dry_run: bool = False,
    **kwargs: Any,
) -> Summary:
    """``import_contacts`` with its own producer, tuned for bulk (safety settings unchanged)."""
    if dry_run:
        return await import_contacts(
            path, Target(None, topic, source, key_secret), use_checkpoint=False, **kwargs
        )
    producer = make_producer(
        bootstrap,
        "eenloket-import",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        # A missing topic would be auto-created by some brokers with the wrong partition count.
        metadata = await producer.client.fetch_all_metadata()
        if topic not in metadata.topics():
            raise ImportFileError(
                f"topic {topic} does not exist: create it first (eenloket topics ensure)"
            )
        return await import_contacts(path, Target(producer, topic, source, key_secret), **kwargs)
    finally:
        await producer.stop()
