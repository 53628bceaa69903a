"""Reading the export (NDJSON or CSV, as Dutch Excel writes it) and the checkpoint that
lets an interrupted import resume."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from ops.importer.rows import FIELDS, REQUIRED_FIELDS

FORMATS = ("ndjson", "csv")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (format, header, checkpoint mismatch)."""


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportFileError(f"unknown format '{given}': use {' or '.join(FORMATS)}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix == ".csv":
        return "csv"
    raise ImportFileError(
        f"cannot tell the format from '{path.name}': name it .ndjson/.jsonl/.csv or pass --format"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Counter:
    """Bytes consumed so far, for the progress bar."""

    done: int = 0


# A row as read: (row number, the fields as a dict or None if unreadable, the original
# for the reject file, a reason if unreadable).
RawRow = tuple[int, dict[str, Any] | None, Any, str | None]


def _ndjson_rows(f: IO[bytes], counter: _Counter) -> Iterator[RawRow]:
    for number, line in enumerate(f, start=1):
        counter.done += len(line)
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            yield number, None, stripped.decode("utf-8", "replace"), "json: not a JSON object"
            continue
        if not isinstance(value, dict):
            yield number, None, stripped.decode("utf-8", "replace"), "json: not a JSON object"
            continue
        yield number, value, stripped.decode("utf-8", "replace"), None


def _decoded_lines(f: IO[bytes], counter: _Counter) -> Iterator[str]:
    first = True
    for line in f:
        counter.done += len(line)
        text = line.decode("utf-8", "replace")
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def csv_header(path: Path) -> tuple[list[str], str]:
    """The header's column names and the delimiter (',' or ';', as Dutch Excel writes)."""
    with path.open("rb") as f:
        first = f.readline().decode("utf-8", "replace").removeprefix("\ufeff")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    return [n.strip().lower() for n in names], delimiter


def check_csv_header(path: Path) -> list[str]:
    """Raise if required columns are missing; return the unknown columns (ignored)."""
    names, _ = csv_header(path)
    missing = [c for c in REQUIRED_FIELDS if c not in names]
    if missing:
        raise ImportFileError(f"the CSV header lacks column(s): {', '.join(missing)}")
    return [n for n in names if n and n not in FIELDS]


def _csv_rows(f: IO[bytes], counter: _Counter, path: Path) -> Iterator[RawRow]:
    names, delimiter = csv_header(path)
    reader = csv.reader(_decoded_lines(f, counter), delimiter=delimiter)
    next(reader, None)  # the header
    # Numbered as a spreadsheet shows them: the header is row 1, a blank line counts.
    for number, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        original = dict(zip(names, values, strict=False))
        if len(values) != len(names):
            yield number, None, original, f"fields: {len(values)} where the header has {len(names)}"
            continue
        yield number, original, original, None


def read_rows(path: Path, fmt: str, counter: _Counter) -> Iterator[RawRow]:
    with path.open("rb") as f:
        if fmt == "ndjson":
            yield from _ndjson_rows(f, counter)
        else:
            yield from _csv_rows(f, counter, path)


# --- checkpoint -----------------------------------------------------------------------------


@dataclass
class Checkpoint:
    file_sha256: str
    trust_verified: bool
    row: int = 0  # every row up to and including this one is published or rejected
    reject_bytes: int = 0  # the reject file's length at that point
    published: int = 0
    rejected: int = 0
    complete: bool = False

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(self.__dict__, option=orjson.OPT_INDENT_2))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        if not path.exists():
            return None
        try:
            data = orjson.loads(path.read_bytes())
            return cls(**data)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ImportFileError(
                f"checkpoint {path} is unreadable ({type(exc).__name__})"
            ) from exc
