"""OpenTelemetry setup: traces exported by OTLP when configured, off otherwise.

"Off" still propagates: spans are created unsampled (cheap, never recorded), so
``traceparent`` headers carry one trace id from the HTTP request through Kafka
into every service, ready for the moment an exporter is configured.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes


class _Switchable(Sampler):
    """Parent-based sampling that records only while something exports the spans."""

    def __init__(self) -> None:
        self.exporting = False
        self._on = ParentBased(ALWAYS_ON)
        self._off = ParentBased(ALWAYS_OFF)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        sampler = self._on if self.exporting else self._off
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"Switchable(exporting={self.exporting})"


_SAMPLER = _Switchable()


def setup_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None = None,
    processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    """Install a tracer provider for this process (once); traces are off unless exported.

    Adding an exporter (OTLP endpoint or span processors) later turns sampling on."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), sampler=_SAMPLER
        )
        trace.set_tracer_provider(provider)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    for processor in processors or []:
        provider.add_span_processor(processor)
    if otlp_endpoint or processors:
        _SAMPLER.exporting = True
    return provider


def exporting() -> bool:
    return _SAMPLER.exporting


# FastAPI (since 0.16x) makes spans of its own, and OpenTelemetry log records of validation
# failures and exception messages, whenever a tracer provider is installed, as ours always
# is. HTTP spans come from ``instrument_http`` instead, only while traces are exported; and
# exception messages can quote a request (personal data) so they never become log records.
FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def instrument_http(app: FastAPI) -> None:
    """Server spans for every HTTP request, only when traces are exported.

    Unexported, the per-request instrumentation cost about a fifth of ingest's CPU
    for spans nobody records; the Kafka spans still start (unsampled) traces."""
    if _SAMPLER.exporting:
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
