"""Kafka record headers: the content type and W3C trace context (traceparent/tracestate)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.propagators.textmap import Getter, Setter

from shared.envelope import CONTENT_TYPE

Headers = list[tuple[str, bytes]]


class _Setter(Setter[dict[str, str]]):
    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        carrier[key] = value


class _Getter(Getter[dict[str, str]]):
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


def outgoing_headers(extra: Iterable[tuple[str, bytes]] = ()) -> Headers:
    """Headers for a new record: content type plus the current trace context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, setter=_Setter())
    headers: Headers = [("content-type", CONTENT_TYPE.encode())]
    headers += [(k, v.encode()) for k, v in carrier.items()]
    headers += list(extra)
    return headers


def headers_from_carrier(carrier: dict[str, str]) -> Headers:
    """Headers for a record that continues a stored trace context as it is."""
    headers: Headers = [("content-type", CONTENT_TYPE.encode())]
    headers += [(k, v.encode()) for k, v in carrier.items()]
    return headers


def trace_carrier() -> dict[str, str]:
    """The current trace context as a dict, to store beside an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, setter=_Setter())
    return carrier


def context_from_carrier(carrier: dict[str, str]) -> otel_context.Context:
    return propagate.extract(carrier, getter=_Getter())


def context_from_headers(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context a producer put in the headers, to continue its trace."""
    return context_from_carrier({k: v.decode("latin-1") for k, v in headers or ()})
