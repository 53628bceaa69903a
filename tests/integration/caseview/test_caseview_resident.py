"""Mijn zaken (/v1/me) against a real Keycloak: residents of the realm's DigiD stand-in log in
through the resident portal's client (PKCE), and see their own cases and nothing else."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from sqlalchemy import select

from services.caseview.access_log.ldv import LdvEmitter
from services.caseview.orm import access_log
from shared.contracts import Actor, Channel, NoteAdded
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import (
    ReplyChannel,
    ReplyRequested,
    ReplyStatus,
    ReplyStatusChanged,
    identifier_id,
)
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import Caseview, Party, running, send, settings_for
from tests.keycloak import Keycloak, claims
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]

JANSEN, DE_VRIES, BASIS = "999993653", "999990019", "999991772"  # the realm's residents
PORTAL = "http://localhost:18004/mijn-zaken/"
SECRET_NOTE = "Intern: mevrouw belde boos, niet terugbellen voor vrijdag"


@pytest.fixture
async def cv(
    kc: Keycloak, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any
) -> AsyncIterator[Caseview]:
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        oidc_issuer=kc.issuer,
        oidc_discovery=True,
        oidc_leeway_seconds=0,  # the expiry test waits for a one-second token to expire
    )
    async with running(settings) as served:
        yield served


async def resident_token(kc: Keycloak, username: str) -> str:
    response = await kc.login_with_pkce("mijn-zaken", username, PORTAL)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert claims(token)["azp"] == "mijn-zaken"
    return str(token)


def bearer(token: str, purpose: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Purpose"] = purpose
    return headers


def a_case_of(
    party: Party, product: str, owner: str, text: str, *, confidential: bool = False
) -> tuple[uuid.UUID, str, list[CloudEvent]]:
    due = datetime.now(UTC) + timedelta(days=10)
    case_id, number, opened = party.case(product, owner, confidential=confidential, due_at=due)
    message = party.message(case_id, number, Channel.WEB, text, owner=owner, subject="Mijn vraag")
    return case_id, number, [opened, message]


async def test_my_cases_show_my_messages_and_replies_and_never_notes_or_others(
    kc: Keycloak, cv: Caseview, producer: Any, topics: Any
) -> None:
    me = Party()
    events = [me.created("Jan Jansen", ("bsn", JANSEN, "authenticated"))]
    case_id, number, opened = me.case(
        "paspoort", "burgerzaken", due_at=datetime.now(UTC) + timedelta(days=5)
    )
    scan = AttachmentRef(sha256="ab" * 32, filename="pasfoto.jpg", media_type="image/jpeg", size=9)
    events += [
        opened,
        me.message(case_id, number, Channel.WEB, "Mijn paspoort verloopt.", attachments=[scan]),
        me.event(
            NoteAdded(
                note_id=uuid.uuid4(),
                case_id=case_id,
                party_id=me.id,
                text=SECRET_NOTE,
                by=Actor(user="u-medewerker-42", team="burgerzaken"),
                at=me.at(),
            )
        ),
    ]
    reply_id = uuid.uuid4()
    common: dict[str, Any] = {"reply_id": reply_id, "case_id": case_id, "party_id": me.id}
    events += [
        me.event(
            ReplyRequested(
                **common,
                identifier_id=identifier_id(me.id, "email", "jan@example.org"),
                channel=ReplyChannel.EMAIL,
                recipient_trust="verified",
                subject="Uw paspoort",
                text="U kunt een afspraak maken.",
                template=None,
                attachments=[],
                notice_only=False,
                by=Actor(user="u-medewerker-42", team="burgerzaken"),
                at=me.at(),
            )
        ),
        me.event(
            ReplyStatusChanged(
                **common,
                channel=ReplyChannel.EMAIL,
                status=ReplyStatus.SENT,
                reason=None,
                reference=None,
                at=me.at(),
            )
        ),
    ]
    # Someone else's case, and a case of a sender who only *claimed* Jansen's BSN.
    other = Party()
    other_case, _, other_events = a_case_of(other, "paspoort", "burgerzaken", "Van De Vries")
    claimer = Party()
    claimed_case, _, claimed_events = a_case_of(claimer, "paspoort", "burgerzaken", "Geclaimd")
    events += [other.created("P. de Vries", ("bsn", DE_VRIES, "authenticated")), *other_events]
    events += [claimer.created("Iemand", ("bsn", JANSEN, "claimed")), *claimed_events]
    await send(producer, topics.timeline, *events)
    await cv.projected(*events)

    token = await resident_token(kc, "inwoner-jansen")
    listed = await cv.client.get("/v1/me/cases", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    mine = {c["id"]: c for c in listed.json()["items"]}
    assert str(other_case) not in mine
    assert str(claimed_case) not in mine  # a claimed BSN gives nothing
    case = mine[str(case_id)]
    assert case["product"] == "Paspoort"
    assert case["team"] == "Burgerzaken"
    assert case["status"] == "open"
    assert case["due_at"] is not None and case["locked"] is False

    detail = await cv.client.get(f"/v1/me/cases/{case_id}", headers=bearer(token))
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert [m["text"] for m in body["messages"]] == ["Mijn paspoort verloopt."]
    assert body["messages"][0]["documents"][0]["filename"] == "pasfoto.jpg"
    assert [(r["text"], r["status"]) for r in body["replies"]] == [
        ("U kunt een afspraak maken.", "sent")
    ]
    assert SECRET_NOTE not in detail.text
    assert "u-medewerker-42" not in detail.text  # no staff names
    assert str(other.id) not in detail.text and str(claimer.id) not in detail.text

    # Not mine, claimed-only and not existing: the same 404, the same words.
    answers = [
        await cv.client.get(f"/v1/me/cases/{c}", headers=bearer(token))
        for c in (other_case, claimed_case, uuid.uuid4())
    ]
    assert {a.status_code for a in answers} == {404}
    # The same words (the problem's `instance` is the path asked for).
    assert len({json.dumps({**a.json(), "instance": None}) for a in answers}) == 1
    missing = await cv.client.get(
        f"/v1/me/cases/{other_case}/attachments/{'ab' * 32}", headers=bearer(token)
    )
    assert missing.status_code == 404

    # A staff member reads the case; the resident sees the team, the time and the purpose.
    staff = await kc.user_token("kcc-medewerker")
    read = await cv.client.get(f"/v1/cases/{case_id}", headers=bearer(staff, "Terugbelverzoek"))
    assert read.status_code == 200
    looked = await cv.client.get("/v1/me/access-log", headers=bearer(token))
    assert looked.status_code == 200, looked.text
    entries = looked.json()["items"]
    by_team = [e for e in entries if e["reader"] == "team" and e["case_number"] == number]
    assert by_team[0]["teams"] == ["Klantcontactcentrum"]
    assert by_team[0]["purpose"] == "Terugbelverzoek"
    assert by_team[0]["own_read"] is False
    assert claims(staff)["sub"] not in looked.text  # a team, never a person
    assert any(e["own_read"] and e["purpose"] == "inzage door betrokkene" for e in entries)

    # Every resident read was logged with the purpose "inzage door betrokkene".
    async with cv.app.state.sessions() as session:
        rows = (
            await session.execute(
                select(access_log).where(access_log.c.user == claims(token)["sub"])
            )
        ).all()
    # This test's reads only: the realm's resident user is shared by the session's tests (the
    # bad-token test sends the same user's token to staff routes, with its own purpose).
    ours = [r for r in rows if r.case_id == case_id or r.party_id == me.id]
    assert {"GET /v1/me/cases", "GET /v1/me/cases/{case_id}"} <= {r.endpoint for r in ours}
    assert {r.purpose for r in ours} == {"inzage door betrokkene"}
    assert {r.roles for r in ours} == {"resident"}


async def test_a_confidential_case_needs_the_level_of_assurance(
    kc: Keycloak, cv: Caseview, producer: Any, topics: Any
) -> None:
    low = Party()  # inwoner-basis logs in at "low"
    social, _, social_events = a_case_of(
        low, "bijstand", "werk-en-inkomen", "Ik heb geen inkomen meer", confidential=True
    )
    plain, _, plain_events = a_case_of(low, "paspoort", "burgerzaken", "Paspoort kwijt")
    events = [low.created("B. Basis", ("bsn", BASIS, "authenticated")), *social_events]
    events += plain_events
    await send(producer, topics.timeline, *events)
    await cv.projected(*events)

    token = await resident_token(kc, "inwoner-basis")
    listed = (await cv.client.get("/v1/me/cases", headers=bearer(token))).json()["items"]
    mine = {c["id"]: c for c in listed}
    locked = mine[str(social)]
    assert locked["locked"] is True
    assert locked["notice"] == "Meld u aan met een hoger betrouwbaarheidsniveau"
    assert locked["product"] is None and locked["team"] is None and locked["status"] is None
    assert mine[str(plain)]["locked"] is False

    detail = await cv.client.get(f"/v1/me/cases/{social}", headers=bearer(token))
    assert detail.status_code == 200
    assert detail.json()["messages"] == [] and detail.json()["replies"] == []
    assert "geen inkomen" not in detail.text
    assert "Werk en Inkomen" not in detail.text
    shown = await cv.client.get(f"/v1/me/cases/{plain}", headers=bearer(token))
    assert [m["text"] for m in shown.json()["messages"]] == ["Paspoort kwijt"]


def unsigned(token: str) -> str:
    """The token's claims under `alg: none`, without a signature."""
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return head.rstrip(b"=").decode() + "." + token.split(".")[1] + "."


async def test_no_data_for_any_bad_token_on_me_and_no_resident_token_on_staff_routes(
    kc: Keycloak, cv: Caseview
) -> None:
    async def status(token: str | None, path: str = "/v1/me/cases") -> int:
        headers = bearer(token) if token else {}
        return (await cv.client.get(path, headers=headers)).status_code

    resident = await resident_token(kc, "inwoner-jansen")
    assert await status(resident) == 200
    assert await status(None) == 401
    assert await status(unsigned(resident)) == 401  # alg: none
    assert await status(resident[:-4] + "AAAA") == 401  # a broken signature
    assert await status(await kc.admin_token()) == 401  # another issuer
    # Staff token on /v1/me; the DigiD stand-in through another client (not the portal's).
    assert await status(await kc.user_token("kcc-medewerker")) == 403
    assert await status(await kc.user_token("inwoner-jansen")) == 403
    # A resident token on a staff route.
    assert await status(resident, f"/v1/parties/{uuid.uuid4()}") == 403
    assert await status(resident, "/v1/access-log") == 403

    audience = {
        "name": "audience",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {"included.custom.audience": "eenloket-caseview", "access.token.claim": "true"},
    }
    # Another audience: a client of the realm without caseview's audience.
    other_id, other_secret = await kc.create_client()
    # An expired token: a client whose tokens live one second (leeway 0 in this caseview).
    short_id, short_secret = await kc.create_client(
        protocolMappers=[audience], attributes={"access.token.lifespan": "1"}
    )
    try:
        assert await status(await kc.client_token(other_id, other_secret)) == 401
        short = await kc.client_token(short_id, short_secret)

        async def expired() -> bool:
            return await status(short) == 401

        assert await status(short) in (403, 401)  # valid (not a resident's) or already expired
        await eventually(expired, timeout=15, interval=0.5)
    finally:
        await kc.delete_client(other_id)
        await kc.delete_client(short_id)


async def test_a_resident_sets_contact_preferences_through_the_staff_command(
    kc: Keycloak, cv: Caseview, producer: Any, topics: Any
) -> None:
    me = Party()  # inwoner-de-vries (another test's parties may hold the BSN as well)
    created = me.created("P. de Vries", ("bsn", DE_VRIES, "authenticated"))
    await send(producer, topics.timeline, created)
    await cv.projected(created)
    token = await resident_token(kc, "inwoner-de-vries")
    assert (await cv.client.get("/v1/me/contact-preferences", headers=bearer(token))).is_success
    sent = await cv.client.put(
        "/v1/me/contact-preferences",
        headers=bearer(token),
        json={"preferred_channel": "email", "opted_out": ["sms"]},
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["type"] == "nl.eenloket.party.set-contact-preferences"
    published = await read_topic(cv.settings.kafka_bootstrap, topics.commands, expect=1)
    command = json.loads(published[0].value)
    assert command["data"]["by"]["user"] == claims(token)["sub"]
    assert command["data"]["opted_out"] == ["sms"]
    refused = await cv.client.put(
        "/v1/me/contact-preferences",
        headers=bearer(token),
        json={"preferred_channel": "sms", "opted_out": ["sms"]},
    )
    assert refused.status_code == 422


async def test_resident_reads_become_ldv_processing_actions(
    kc: Keycloak, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any
) -> None:
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        oidc_issuer=kc.issuer,
        oidc_discovery=True,
        ldv_enabled=True,
        ldv_subject_key=SecretStr(uuid.uuid4().hex),
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with running(settings) as served:
        served.app.state.ldv = LdvEmitter(settings, provider)
        token = await resident_token(kc, "inwoner-jansen")
        assert (await served.client.get("/v1/me/cases", headers=bearer(token))).is_success
    spans = [s for s in exporter.get_finished_spans() if s.name == "GET /v1/me/cases"]
    assert spans and spans[0].attributes is not None
    assert spans[0].attributes["dpl.core.processing_activity_id"] == "eenloket-inzage-betrokkene"
