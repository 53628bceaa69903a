"""Open Formulieren's JSON dump through ingest, on a real broker and PostgreSQL: recorded-shape
submissions with and without DigiD land on omni.inbound.v1 as expected, a re-post of the same
public reference is one message, and every refusal is a Dutch problem document."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.ingest.bootstrap import create_app
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage, Trust
from tests.apps import serve
from tests.integration.test_ingest_channels import published, stored
from tests.support import ingest_with_keys

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "open_formulieren"
ROUTE = "/v1/channels/open-formulieren"
KEYS = {  # integration -> (key, channels, may assert logins)
    "open-formulieren": ("k-of", {Channel.WEB}, True),
    "of-test": ("k-of-test", {Channel.WEB}, False),
    "mailroom": ("k-post", {Channel.LETTER}, False),
}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


def recorded(name: str, **metadata: Any) -> dict[str, Any]:
    """A fixture with a public reference of its own (the idempotency table is shared)."""
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body["metadata"] |= {"public_reference": f"OF-{uuid.uuid4().hex[:10].upper()}"} | metadata
    return body


@pytest.fixture
def settings(kafka_bootstrap, pg_urls, topics, tmp_path):
    return ingest_with_keys(
        KEYS,
        kafka=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic=topics.inbound,
        attachments=tmp_path / "attachments",
        open_formulieren_mapping=FIXTURES / "forms.yaml",
    )


@pytest.fixture
async def ingest(settings):
    async with serve(create_app(settings)) as client:
        yield client


def senders(message: InboundMessage) -> list[tuple[str, str, str, str | None]]:
    return [(s.kind, s.value, s.trust, s.evidence) for s in message.sender]


async def test_a_digid_submission_lands_authenticated_with_its_files(
    ingest, settings, kafka_bootstrap, topics
):
    body = recorded("melding-digid")
    response = await ingest.post(ROUTE, json=body, headers=bearer("open-formulieren"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["reference"] == body["metadata"]["public_reference"]
    assert answer["status"] == "ontvangen" and answer["duplicate"] is False
    [message] = await published(kafka_bootstrap, topics)
    assert str(message.message_id) == answer["message_id"]
    assert message.channel is Channel.WEB
    assert message.channel_message_id == body["metadata"]["public_reference"]
    assert senders(message) == [
        (IdentifierKind.BSN, "999993653", Trust.AUTHENTICATED, Evidence.DIGID),
        (IdentifierKind.EMAIL, "jan.jansen@example.nl", Trust.CLAIMED, None),
        (IdentifierKind.PHONE, "+31612345678", Trust.CLAIMED, None),
    ]
    assert message.subject == "Losliggende stoeptegel"
    assert message.text.startswith("Omschrijving: Voor Kerkstraat 12 ligt een stoeptegel los.")
    assert "Soort: bestrating" in message.text
    assert message.product_hint == "Melding openbare ruimte"
    files = body["values"]["fotos"]
    assert [(a.filename, a.media_type) for a in message.attachments] == [
        ("tegel.jpg", "image/jpeg"),
        ("overzicht.pdf", "application/pdf"),
    ]
    for ref, file in zip(message.attachments, files, strict=True):
        data = base64.b64decode(file["content"])
        assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
        assert stored(settings, ref.sha256) == data  # in the store, not on Kafka


async def test_a_submission_without_login_is_claimed_only(ingest, kafka_bootstrap, topics):
    response = await ingest.post(ROUTE, json=recorded("contact-anoniem"), headers=bearer("of-test"))
    assert response.status_code == 201, response.text
    [message] = await published(kafka_bootstrap, topics)
    assert senders(message) == [
        (IdentifierKind.BSN, "111222333", Trust.CLAIMED, None),
        (IdentifierKind.EMAIL, "piet@example.org", Trust.CLAIMED, None),
    ]
    assert message.subject == "Vraag via het contactformulier"
    assert message.display_name == "Piet de Vries"
    assert [a.filename for a in message.attachments] == ["brief.txt"]


async def test_a_re_post_of_the_same_reference_is_one_message(ingest, kafka_bootstrap, topics):
    body = recorded("melding-digid")
    first = await ingest.post(ROUTE, json=body, headers=bearer("open-formulieren"))
    # Open Formulieren retries a registration with a new registration timestamp.
    retried = body | {
        "metadata": body["metadata"] | {"registration_timestamp": "2026-04-07T08:00:00Z"}
    }
    again = await ingest.post(ROUTE, json=retried, headers=bearer("open-formulieren"))
    assert first.status_code == again.status_code == 201
    assert again.json()["message_id"] == first.json()["message_id"]
    assert again.json()["duplicate"] is True
    other = await ingest.post(
        ROUTE, json=recorded("contact-anoniem"), headers=bearer("open-formulieren")
    )
    assert other.status_code == 201
    # The second record on the topic is the other form: the re-post published nothing.
    messages = await published(kafka_bootstrap, topics, expect=2)
    assert [str(m.message_id) for m in messages] == [
        first.json()["message_id"],
        other.json()["message_id"],
    ]


async def test_the_same_reference_with_other_content_is_refused(ingest):
    body = recorded("melding-digid")
    assert (await ingest.post(ROUTE, json=body, headers=bearer("open-formulieren"))).is_success
    changed = json.loads(json.dumps(body))
    changed["values"]["onderwerp"] = "Iets anders"
    response = await ingest.post(ROUTE, json=changed, headers=bearer("open-formulieren"))
    assert response.status_code == 422
    assert response.json()["title"] == "Kenmerk al gebruikt"


def problem(response: Any, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document: dict[str, Any] = response.json()
    assert document["title"] == title and document["status"] == status
    return document


async def test_keys_are_checked_first(ingest):
    body = recorded("contact-anoniem")
    missing = await ingest.post(ROUTE, json=body)
    problem(missing, 401, "Sleutel ontbreekt of is onbekend")
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = await ingest.post(ROUTE, json=body, headers={"Authorization": "Bearer onbekend"})
    problem(unknown, 401, "Sleutel ontbreekt of is onbekend")
    other_channel = await ingest.post(ROUTE, json=body, headers=bearer("mailroom"))
    problem(other_channel, 403, "Sleutel niet toegestaan")


async def test_a_digid_login_from_a_key_that_may_not_assert_logins_is_403(
    ingest, kafka_bootstrap, topics
):
    response = await ingest.post(ROUTE, json=recorded("melding-digid"), headers=bearer("of-test"))
    document = problem(response, 403, "Inlog niet toegestaan")
    assert "999993653" not in json.dumps(document)


async def test_bad_bodies_are_dutch_problems_without_their_values(ingest):
    headers = bearer("open-formulieren")
    not_json = await ingest.post(
        ROUTE, content=b"values=1", headers=headers | {"Content-Type": "text/plain"}
    )
    problem(not_json, 415, "Verkeerd mediatype")
    broken = await ingest.post(
        ROUTE, content=b"{", headers=headers | {"Content-Type": "application/json"}
    )
    problem(broken, 422, "Ongeldige inzending")
    body = recorded("melding-digid")
    del body["metadata"]["public_reference"]
    body["metadata"]["auth_bsn"] = "12345"
    invalid = problem(
        await ingest.post(ROUTE, json=body, headers=headers), 422, "Ongeldige inzending"
    )
    locations = [e["loc"] for e in invalid["errors"]]
    assert ["body", "metadata", "public_reference"] in locations
    assert ["body", "metadata", "auth_bsn"] in locations
    assert "12345" not in json.dumps(invalid)
    without_bsn = recorded("melding-digid", auth_bsn="")
    missing = problem(
        await ingest.post(ROUTE, json=without_bsn, headers=headers), 422, "Inloggegevens ontbreken"
    )
    assert missing["errors"][0]["loc"] == ["body", "metadata", "auth_bsn"]
    bad_file = recorded("contact-anoniem")
    bad_file["values"]["bijlage"]["content"] = "%%%"
    problem(await ingest.post(ROUTE, json=bad_file, headers=headers), 422, "Ongeldige bijlage")
    unknown = recorded("contact-anoniem", form_id=str(uuid.uuid4()), form_url=None)
    problem(await ingest.post(ROUTE, json=unknown, headers=headers), 422, "Onbekend formulier")


async def test_files_over_the_limit_are_413(settings, kafka_bootstrap, topics):
    small = settings.model_copy(update={"max_attachment_bytes": 10})
    async with serve(create_app(small)) as client:
        response = await client.post(
            ROUTE, json=recorded("melding-digid"), headers=bearer("open-formulieren")
        )
    problem(response, 413, "Bijlagen te groot")
