"""JSON logs that never carry personal data.

Two guards: a log line keeps only allow-listed ``extra`` fields (ids, counts,
error types — never a name, address, BSN or message text), and whatever slips
into the message text is scrubbed of e-mail addresses, 9-digit numbers (BSN)
and phone numbers before it is written. A logged exception (``exc_info``) gives
its type and its frames (``file:line in function``, see ``frames``), never its
message or local variables.
"""

from __future__ import annotations

import logging
import re
import sys
import sysconfig
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from opentelemetry import trace

ALLOWED_FIELDS = frozenset(
    {
        "service",
        "event_id",
        "message_id",
        "party_id",
        "case_id",
        "command_id",
        "channel",
        "topic",
        "partition",
        "offset",
        "group",
        "count",
        "reason",
        "error_type",
        "status_code",
        "method",
        "route",
        "duration_ms",
        "port",
        "loop",
        "exit_code",
    }
)

_EMAIL = (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>")
_NUMBERS = [
    (re.compile(r"(?<!\d)\d{9}(?!\d)"), "<nine-digits>"),
    (re.compile(r"\+?\d[\d \-]{8,}\d"), "<number>"),
]
# What operators search logs by and what is never personal: UUIDs (message, party, case and
# event ids; with or without dashes), case numbers, trace and span ids. The number
# scrubbers skip them; a UUIDv7 with a run of digits in its middle groups looked like a phone
# number to them.
_IDS = re.compile(
    r"(?i)(?<![0-9a-z])(?:"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-f]{32}|[0-9a-f]{16}"
    r"|ZAAK-\d{4}-\d{10}"
    r")(?![0-9a-z])"
)


def _scrub_numbers(text: str) -> str:
    for pattern, replacement in _NUMBERS:
        text = pattern.sub(replacement, text)
    return text


def scrub(text: str) -> str:
    """Free text with e-mail addresses, BSNs and phone numbers replaced, ids kept intact."""
    pattern, replacement = _EMAIL
    text = pattern.sub(replacement, text)
    out: list[str] = []
    start = 0
    for kept in _IDS.finditer(text):
        out.append(_scrub_numbers(text[start : kept.start()]))
        out.append(kept.group())
        start = kept.end()
    out.append(_scrub_numbers(text[start:]))
    return "".join(out)


_ROOT = str(Path(__file__).resolve().parents[1]) + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"
_MAX_FRAMES = 40  # per exception: the first 10 and the last 30 of a deeper stack
_MAX_CHAIN = 4  # an exception and what it was raised from or while handling


def _where(filename: str) -> str:
    """A frame's file, short: inside the project, a package or the standard library."""
    if "site-packages/" in filename:
        return filename.rsplit("site-packages/", 1)[1]
    for prefix in (_ROOT, _STDLIB):
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    return filename


def frames(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> list[str]:
    """Where an exception came from, without a word of its message: its type, then each frame
    as ``file:line in function``; then the same for the exception it was raised from (or while
    handling), oldest first as Python prints it. Messages and local variables can quote the
    data being processed (a resident's text, a BSN); type names and code locations cannot."""
    chain: list[tuple[str, type[BaseException], TracebackType | None]] = [("", exc_type, tb)]
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None and len(chain) < _MAX_CHAIN:
        if current.__cause__ is not None:
            link, current = "raised from it: ", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = "raised while handling it: ", current.__context__
        else:
            break
        if id(current) in seen:
            break
        seen.add(id(current))
        chain[-1] = (link, chain[-1][1], chain[-1][2])
        chain.append(("", type(current), current.__traceback__))
    lines: list[str] = []
    for link, kind, where_from in reversed(chain):
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        lines.append(f"{link}{name}")
        where = [
            f"{_where(f.filename)}:{f.lineno} in {f.name}" for f in traceback.extract_tb(where_from)
        ]
        if len(where) > _MAX_FRAMES:
            where = [*where[:10], f"... {len(where) - _MAX_FRAMES} frames ...", *where[-30:]]
        lines.extend(where)
    return lines


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "service": self._service,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in ALLOWED_FIELDS and key not in _STANDARD:
                doc[key] = value if isinstance(value, int | float | bool) else scrub(str(value))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            doc["trace_id"] = f"{span.trace_id:032x}"
            doc["span_id"] = f"{span.span_id:016x}"
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the frames only: exception messages can quote the input they
            # choked on.
            kind, exc, tb = record.exc_info
            doc["error_type"] = kind.__name__
            if exc is not None:
                doc["traceback"] = [scrub(line) for line in frames(kind, exc, tb)]
        return orjson.dumps(doc).decode()


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel("WARNING")
