"""Property-based run (schemathesis) of the Klantinteracties facade's reads against the derived
0.9.0 document: caseview in-process on real Kafka and PostgreSQL, a database seeded with a
resident's contacts (one confidential; a reply and a call staff made, so medewerkers and
outgoing contacts are served too), an integration's token.

Checks: no 5xx, the content type and the body of every documented response conform. The body
is held to the document by the same validator as ``tests.klantinteracties.conforms``:
schemathesis' own schema check ignores the ``discriminator``, and the document's Partij is a
``oneOf`` that is ambiguous without it (its organisatie variant requires nothing), so every
partij would fail it. The status-code check is left out on purpose: the document lists only
``200`` per GET, while the facade answers 401/403/404/422 as RFC 9457 problems by design
(docs/klantinteracties.md), so that check would flag every unknown uuid and every out-of-range
``pageSize``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import checks

from services.caseview.config import CaseviewSettings
from shared.contracts import Actor, Channel
from shared.kafka.config import make_producer
from tests.integration.caseview.conftest import (
    Party,
    bounded,
    fresh_topics,
    projected,
    send,
    settings_for,
    team_name,
    threaded_server,
)
from tests.integration.caseview.test_klantinteracties_outgoing import phoned, reply
from tests.klantinteracties import DOCUMENT, PREFIX, document, integration, schema_errors

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

# The facade's read operations (what docs/klantinteracties.md lists as served).
SERVED = (
    r"^/(klantcontacten|betrokkenen|onderwerpobjecten|partijen|partij-identificatoren"
    r"|digitaleadressen|actoren|internetaken|bijlagen|actorklantcontacten)(/\{uuid\})?$"
)
schema = schemathesis.openapi.from_path(DOCUMENT).include(method="GET", path_regex=SERVED)


def body_conforms(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> None:
    """A documented response's body against its schema, discriminators honoured."""
    template = case.operation.path
    # The coverage phase also probes methods the document does not define (405 then).
    documented = document()["paths"][template].get(case.method.lower(), {}).get("responses", {})
    if str(response.status_code) in documented:
        errors = schema_errors(template, case.method, response.status_code, response.json())
        assert not errors, "\n".join(errors[:5])


CHECKS = [checks.not_a_server_error, checks.content_type_conformance, body_conforms]
TOKEN = uuid.uuid4().hex


async def _seed(app_settings: CaseviewSettings, team: str) -> None:
    """One resident with a case, two contacts, a reply and a call back, and a confidential case
    with one more contact."""
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    created = p.created("Anna de Vries", ("bsn", bsn, "authenticated"))
    case, number, opened = p.case("paspoort", team)
    web = p.message(case, number, Channel.WEB, "Paspoort verlopen", subject="Paspoort")
    mail = p.message(case, number, Channel.EMAIL, "Nog een vraag", owner=team)
    secret_case, secret_no, secret_opened = p.case("bijstand", team_name(), confidential=True)
    secret = p.message(secret_case, secret_no, Channel.PHONE, "Schulden", subject="Schulden")
    _, answer = reply(p, case, Actor(user="u-schemathesis", team=team), "Uw paspoort")
    _, called = phoned(p, case, Actor(user="u-schemathesis-2", team=None), "Teruggebeld")
    events = [created, opened, web, mail, answer, called, secret_opened, secret]
    producer = make_producer(app_settings.kafka_bootstrap, "test")
    await producer.start()
    try:
        await send(producer, app_settings.topic_timeline, *events)
    finally:
        await producer.stop()
    await projected(app_settings, *events)


@pytest.fixture(scope="module")
def facade_url(kafka_bootstrap: str, pg_urls: dict[str, str]) -> Iterator[str]:
    name, team = f"st-{uuid.uuid4().hex[:8]}", team_name()
    app_settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        fresh_topics(),
        klantinteracties_integrations=f"[{integration(name, TOKEN, teams=[team])}]",
    )
    with threaded_server(app_settings, lambda: _seed(app_settings, team)) as url:
        yield url + PREFIX


@schema.parametrize()
@bounded(10)
def test_the_facade_conforms_to_the_klantinteracties_document(
    case: schemathesis.Case[Any], facade_url: str
) -> None:
    case.call_and_validate(
        base_url=facade_url,
        headers={"Authorization": f"Token {TOKEN}"},
        checks=CHECKS,
        timeout=15,
    )
