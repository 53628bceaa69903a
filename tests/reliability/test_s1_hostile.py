"""S1 — hostile input: schemathesis against all three services, and a corpus of hostile
e-mails and JSON bodies sent to ingest, whose accepted messages the router must digest.

1. Schemathesis (generated valid and invalid requests) against the OpenAPI document of
   ingest, caseview and the router (which exposes /healthz, /readyz and /metrics), each
   served by uvicorn in this process on the real broker and database: no 5xx, and
   responses conform to the document. (tests/integration/*schemathesis* run the /v1
   routes of ingest and caseview at a fixed depth; this runs every path of all three.)
2. A hostile corpus generated in code (MIME bombs nested thousands deep or with
   thousands of parts, huge and countless headers, broken and unknown encodings,
   zero-width and right-to-left characters in names, NUL bytes, encoded header
   injection) sent to /v1/channels/email as message/rfc822 AND over SMTP; oversized,
   deeply nested and malformed JSON to the JSON channels. Each gets a clear refusal
   (RFC 9457 problem with a 4xx; an SMTP 5xx reply) or is
   accepted; the SMTP receiver never answers 451 (its "internal error" path).
3. The router, running on the same inbound topic, processes every accepted message
   (or dead-letters it) and keeps running; ingest keeps running.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks
from sqlalchemy import func, select

from services.caseview.bootstrap import create_app as create_caseview
from services.caseview.config import CaseviewSettings
from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app as create_ingest
from services.ingest.config import IngestSettings
from services.router import orm as rt
from services.router.bootstrap import create_app as create_router
from services.router.config import RouterSettings
from shared.contracts import Channel
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.apps import serve
from tests.conftest import Topics
from tests.integration.caseview.conftest import free_port, token
from tests.integration.test_ingest_smtp import smtp_exchange
from tests.reliability.conftest import sized
from tests.reliability.inproc import drain, engine_for, record_history
from tests.support import eventually, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KEY = "s1-hostile-key"
DOMAIN = "gemeente.example"
EXAMPLES = sized(ci=3, full=40)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
CASEVIEW_AUTH = token("u-s1", teams=["kcc"], roles=["kcc", "member", "lead", "auditor"])


def _integrations() -> dict[str, Integration]:
    return {
        "s1": Integration(sha256=hash_key(KEY), channels=frozenset(Channel), may_assert_login=True)
    }


def _thread_server(app: FastAPI, topics: list[str], bootstrap: str) -> Iterator[str]:
    """The app on a real socket, in its own thread and event loop (schemathesis is sync)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )

    async def main() -> None:
        await ensure_topics(bootstrap, [TopicSpec(t, 1) for t in topics])
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _names(prefix: str) -> dict[str, str]:
    s = uuid.uuid4().hex[:8]
    return {k: f"test.{prefix}-{k}.{s}" for k in ("inbound", "timeline", "commands", "dlt")}


@pytest.fixture(scope="module")
def ingest_url(
    kafka_bootstrap: str, pg_urls: dict[str, str], tmp_path_factory: Any
) -> Iterator[str]:
    t = _names("s1i")
    app = create_ingest(
        IngestSettings(
            environment="test",
            kafka_bootstrap=kafka_bootstrap,
            database_url=pg_urls["ingest"],
            topic_inbound=t["inbound"],
            attachment_dir=tmp_path_factory.mktemp("s1-attachments"),
            allow_anonymous=False,
            api_keys=_integrations(),
        )
    )
    yield from _thread_server(app, [t["inbound"]], kafka_bootstrap)


@pytest.fixture(scope="module")
def caseview_url(kafka_bootstrap: str, pg_urls: dict[str, str]) -> Iterator[str]:
    t = _names("s1c")
    app = create_caseview(
        CaseviewSettings(
            environment="test",
            database_url=pg_urls["caseview"],
            kafka_bootstrap=kafka_bootstrap,
            topic_timeline=t["timeline"],
            topic_commands=t["commands"],
            topic_deadletter=t["dlt"],
            consumer_group=f"cv-s1-{uuid.uuid4().hex[:8]}",
            sse_max_seconds=1.0,
        )
    )
    yield from _thread_server(app, [t["timeline"], t["commands"], t["dlt"]], kafka_bootstrap)


@pytest.fixture(scope="module")
def router_url(kafka_bootstrap: str, pg_urls: dict[str, str]) -> Iterator[str]:
    t = _names("s1r")
    app = create_router(
        RouterSettings(
            environment="test",
            kafka_bootstrap=kafka_bootstrap,
            database_url=pg_urls["router"],
            topic_inbound=t["inbound"],
            topic_timeline=t["timeline"],
            topic_commands=t["commands"],
            topic_deadletter=t["dlt"],
            consumer_group=f"router-s1-{uuid.uuid4().hex[:8]}",
        )
    )
    yield from _thread_server(app, list(t.values()), kafka_bootstrap)


schemathesis.serializer.alias("message/rfc822", "application/octet-stream")


def _schema(app: FastAPI) -> Any:
    document = schemathesis.openapi.from_dict(app.openapi())
    document.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
    )
    return document


INGEST_SCHEMA = _schema(create_ingest(IngestSettings(environment="test")))
CASEVIEW_SCHEMA = _schema(create_caseview(CaseviewSettings(environment="test")))
ROUTER_SCHEMA = _schema(create_router(RouterSettings(environment="test")))
HYPOTHESIS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@INGEST_SCHEMA.parametrize()  # type: ignore[untyped-decorator]
@HYPOTHESIS
def test_ingest_schemathesis(case: Any, ingest_url: str) -> None:
    # Schema-valid input can still break rules JSON Schema cannot state (the 11-proef):
    # positive_data_acceptance is not a check (as in the integration test).
    case.call_and_validate(
        base_url=ingest_url, headers={"X-Api-Key": KEY}, checks=CHECKS, timeout=30
    )


@CASEVIEW_SCHEMA.parametrize()  # type: ignore[untyped-decorator]
@HYPOTHESIS
def test_caseview_schemathesis(case: Any, caseview_url: str) -> None:
    case.call_and_validate(base_url=caseview_url, headers=CASEVIEW_AUTH, checks=CHECKS, timeout=15)


@ROUTER_SCHEMA.parametrize()  # type: ignore[untyped-decorator]
@HYPOTHESIS
def test_router_schemathesis(case: Any, router_url: str) -> None:
    case.call_and_validate(base_url=router_url, checks=CHECKS, timeout=15)


# --- the hostile corpus ----------------------------------------------------------------


def _mail(name: str = "Ria de Wit", body: str = "Mijn vraag.", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{name} <ria.{uuid.uuid4().hex[:6]}@example.nl>"
    msg["To"] = f"info@{DOMAIN}"
    msg["Subject"] = "Vraag"
    msg["Message-ID"] = make_msgid(domain="example.nl")
    for k, v in headers.items():
        msg[k] = v
    msg.set_content(body)
    return msg


def _head(extra: bytes = b"") -> bytes:
    return (
        f"From: Ria <ria.{uuid.uuid4().hex[:6]}@example.nl>\r\nTo: info@{DOMAIN}\r\n"
        f"Subject: test\r\nMessage-ID: <{uuid.uuid4()}@example.nl>\r\nMIME-Version: 1.0\r\n"
    ).encode() + extra


def _nested(depth: int) -> bytes:
    parts = [
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(depth)
    ]
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\nbinnenin\r\n--b%d--\r\n" % (depth, depth)
    closes = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return (
        _head(b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
        + b"".join(parts)
        + inner
        + closes
    )


def _many_parts(n: int) -> bytes:
    body = b"".join(b"--x\r\nContent-Type: text/plain\r\n\r\ndeel %d\r\n" % i for i in range(n))
    return _head(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n") + body + b"--x--\r\n"


def hostile_emails() -> dict[str, bytes]:
    zw = "\u200b\u200c\u200d\u2060\ufeff"
    rtl = "\u202e\u2067\u200f"
    return {
        "nested-50": _nested(50),
        "nested-3000": _nested(3000),
        "parts-5000": _many_parts(5000),
        "headers-2000": _head(b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\nhoi\r\n"),
        "header-line-100k": _head(b"X-Long: " + b"a" * 100_000 + b"\r\n\r\nhoi\r\n"),
        "header-block-400k": _head(
            b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 900) for i in range(450)) + b"\r\nhoi\r\n"
        ),
        "unknown-charset": _head(
            b'Content-Type: text/plain; charset="x-klingon-99"\r\n\r\nqapla\xff\xfe\r\n'
        ),
        "bad-base64": _head(
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!!not*base64===\r\n"
        ),
        "bad-utf8-headers": _head(b"X-Bad: \xff\xfe\xc3\x28\r\n\r\nhoi\r\n").replace(
            b"Subject: test", b"Subject: \xc3\x28\xa0\xa1"
        ),
        "encoded-word-bad-charset": _head().replace(b"Subject: test", b"Subject: =?x-nope?B?AAAA?=")
        + b"\r\nhoi\r\n",
        "zero-width-name": _mail(name=f"Ri{zw}a{zw}").as_bytes(),
        "rtl-name": _mail(name=f"{rtl}tiW ed aiR{rtl}", body=f"tekst {rtl}{zw}").as_bytes(),
        "nul-bytes": _mail(body="a\x00b").as_bytes().replace(b"a\x00b", b"a\x00b") + b"\x00",
        "header-injection": _head().replace(
            b"Subject: test", b"Subject: =?utf-8?q?x=0D=0ABcc:_evil@example.org?="
        )
        + b"\r\nhoi\r\n",
        "no-from": b"To: info@gemeente.example\r\nSubject: x\r\n\r\nhoi\r\n",
        "only-garbage": bytes(range(1, 256)) * 40,
        "empty-body": _head(b"\r\n"),
        "boundary-missing": _head(b"Content-Type: multipart/mixed\r\n\r\n--x\r\nhoi\r\n"),
        # Internationalised and ambiguous senders (RFC 6532; docs/channels.md): accepted,
        # never a 5xx; several From headers or mailboxes are accepted without evidence.
        "utf8-from-name": _head().replace(b"From: Ria", "From: J\u00f6rg M\u00fcller".encode())
        + b"\r\nhoi\r\n",
        "utf8-from-local-part": _head().replace(b"From: Ria <ria.", "From: <j\u00f6rg.".encode())
        + b"\r\nhoi\r\n",
        "latin1-from-name": _head().replace(b"From: Ria", b"From: J\xf6rg") + b"\r\nhoi\r\n",
        "two-from-headers": b"From: a@example.nl\r\n" + _head() + b"\r\nhoi\r\n",
        "two-mailboxes-in-from": _head().replace(b"From: Ria <", b"From: a@example.nl, Ria <")
        + b"\r\nhoi\r\n",
        "forged-authentication-results": _head(
            b"Authentication-Results: mx.evil.example; dmarc=pass header.from=example.nl\r\n"
        )
        + b"\r\nhoi\r\n",
        "garbage-authentication-results": _head(
            b"Authentication-Results: ;;; dmarc=\xff (( header.from=\r\n"
        )
        + b"\r\nhoi\r\n",
        "sender-but-no-from": b"Sender: a@example.nl\r\nTo: info@gemeente.example\r\n\r\nhoi\r\n",
    }


def hostile_json() -> dict[str, tuple[str, bytes, str]]:
    """name -> (channel, body, content type)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    return {
        "oversized-2mb": ("web", b'{"text": "' + b"a" * 2_000_000 + b'"}', "application/json"),
        "deep-array-100k": ("web", deep, "application/json"),
        "deep-object": ("phone", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        "truncated": ("counter", b'{"channel": "counter", "text": "hal', "application/json"),
        "not-utf8": ("web", b'{"text": "\xff\xfe\xfd"}', "application/json"),
        "nul-in-string": ("app", b'{"text": "a\\u0000b"}', "application/json"),
        "lone-surrogate": ("web", b'{"subject": "x", "text": "a\\ud800b"}', "application/json"),
        "huge-number": ("web", b'{"text": 1e999999}', "application/json"),
        "wrong-type": ("chat", b"<xml/>", "application/xml"),
        "json-array": ("letter", b"[1,2,3]", "application/json"),
    }


def _smtp(port: int, raw: bytes) -> tuple[int, str]:
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    try:
        replies = smtp_exchange(port, wire, rcpt=f"info@{DOMAIN}")
    except Exception as exc:  # a dropped connection is an answer too: record it
        return (-1, type(exc).__name__)
    code, text = replies.get("data", replies["rcpt"])
    return code, text.decode("utf-8", "replace")[:200]


async def test_hostile_corpus_is_refused_or_digested(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Topics, tmp_path: Any
) -> None:
    ingest_settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
        attachment_dir=tmp_path / "attachments",
        allow_anonymous=False,
        api_keys=_integrations(),
        smtp_port=0,
        smtp_domains=[DOMAIN],
    )
    router = router_settings(kafka_bootstrap, pg_urls["router"], topics)
    ingest_app = create_ingest(ingest_settings)
    router_app = create_router(router)
    results: dict[str, Any] = {}
    accepted: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    async with serve(ingest_app) as http, serve(router_app):
        port = ingest_app.state.smtp.port
        for name, raw in hostile_emails().items():
            r = await http.post(
                "/v1/channels/email",
                content=raw,
                headers={"X-Api-Key": KEY, "Content-Type": "message/rfc822"},
            )
            _judge_http(f"email/{name}", r, results, accepted, problems)
            code, text = await asyncio.to_thread(_smtp, port, raw)
            results[f"smtp/{name}"] = code
            if code == 250:
                accepted.append(text.rsplit(" ", 1)[-1])
            elif not 500 <= code < 600:  # a permanent refusal: the sender's server bounces
                problems.append(f"smtp/{name}: {code} {text}")
            elif not re.match(r"5\.\d+\.\d+", text):
                notes.append(f"smtp/{name}: {code} {text} (no enhanced status code)")
        for name, (channel, body, ctype) in hostile_json().items():
            r = await http.post(
                f"/v1/channels/{channel}",
                content=body,
                headers={"X-Api-Key": KEY, "Content-Type": ctype},
            )
            _judge_http(f"json/{name}", r, results, accepted, problems)

        await ingest_app.state.readiness[
            "loops"
        ]() if "loops" in ingest_app.state.readiness else None
        engine = engine_for(pg_urls["router"])
        p = rt.processed_events
        ids = list({uuid.UUID(a) for a in accepted})  # HTTP and SMTP: one message

        async def digested() -> bool:
            async with engine.connect() as conn:
                n = await conn.scalar(
                    select(func.count())
                    .select_from(p)
                    .where(p.c.consumer_group == router.consumer_group, p.c.event_id.in_(ids))
                )
            dead = len(await drain(kafka_bootstrap, topics.deadletter)) if n != len(ids) else 0
            return (n or 0) + dead >= len(ids)

        try:
            await eventually(digested, timeout=120, interval=0.5)
        finally:
            await engine.dispose()
        await router_app.state.readiness["loops"]()  # the router still runs
        assert (await http.get("/readyz")).status_code == 200  # and ingest answers
    dead = await drain(kafka_bootstrap, topics.deadletter)
    record_history(
        "s1-hostile",
        {
            "results": results,
            "accepted": len(accepted),
            "dead_lettered_by_router": len(dead),
            "outcomes": dict(Counter(str(v) for v in results.values())),
            "problems": problems,
            "notes": notes,
        },
    )
    assert not problems, problems


def _judge_http(
    name: str, r: Any, results: dict[str, Any], accepted: list[str], problems: list[str]
) -> None:
    results[name] = r.status_code
    if r.status_code == 202:
        accepted.append(r.json()["message_id"])
    elif r.status_code >= 500:
        problems.append(f"{name}: {r.status_code}")
    elif not (
        400 <= r.status_code < 500 and r.headers.get("content-type") == "application/problem+json"
    ):
        problems.append(f"{name}: {r.status_code} {r.headers.get('content-type')}")
    elif not r.json().get("title"):
        problems.append(f"{name}: a problem without a title")
