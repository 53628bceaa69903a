"""The round trip (issue #20, Must show), on real Kafka and PostgreSQL with the router and
caseview's projector running: a contact registered through ``POST /maak-klantcontact`` by an
integration that asserts identity is routed to the resident, projected into caseview's unified
history, and read back through ``GET /klantcontacten?hadBetrokkene__wasPartij__uuid=…``: the
same contacts in the same order as caseview's own timeline — with the contact staff register
as made by the municipality (an outgoing klantcontact) among them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router.bootstrap import create_app as create_router
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    MessageReceived,
    MessageRouted,
    OutboundContactRegistered,
    to_cloudevent,
)
from shared.envelope import source_urn
from shared.identifiers import sender_identifiers
from tests.apps import serve
from tests.fakes.router_inbound import bsn as new_bsn
from tests.integration.caseview.conftest import running, settings_for, token
from tests.klantinteracties import PREFIX, conforms, integration
from tests.support import eventually, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

INGEST = source_urn("00000000000000000000", "eenloket-ingest")
# The klantcontact's uuid in a history entry of each contact type (incoming and outgoing).
CONTACTS = {MessageRouted.TYPE: "message_id", OutboundContactRegistered.TYPE: "contact_id"}


def digid_visit(bsn: str, at: datetime) -> InboundMessage:
    """A web form sent after a DigiD login: the resident's first contact, making the party."""
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=Channel.WEB,
        received_at=at,
        sender=sender_identifiers(
            [(IdentifierKind.BSN, bsn)], {IdentifierKind.BSN: Evidence.DIGID}
        ),
        subject="Paspoort",
        text="Mijn paspoort is verlopen",
    )


def maak(party: str, kanaal: str, onderwerp: str, at: datetime) -> dict[str, Any]:
    return {
        "klantcontact": {
            "kanaal": kanaal,
            "onderwerp": onderwerp,
            "inhoud": f"{onderwerp}: aan de balie besproken",
            "taal": "nld",
            "plaatsgevondenOp": at.isoformat(),
        },
        "betrokkene": {"wasPartij": {"uuid": party}, "rol": "klant", "initiator": True},
    }


async def test_a_registered_contact_comes_back_through_caseview_and_the_facade(
    kafka_bootstrap, pg_urls, topics, producer
):
    bsn, secret = new_bsn(), uuid.uuid4().hex
    name = f"balie-{secret[:6]}"
    entry = integration(name, secret, teams=["kcc"])
    writer = entry[:-1] + ', "kanalen": ["phone", "counter"], "asserts_identity": true}'
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        topic_inbound=topics.inbound,
        klantinteracties_integrations=f"[{writer}]",
    )
    auth = {"Authorization": f"Token {secret}"}
    staff = token(teams=["kcc"], roles=["kcc"])
    start = datetime.now(UTC) - timedelta(minutes=5)
    first = digid_visit(bsn, start)
    group = f"router-{uuid.uuid4().hex[:8]}"
    router = create_router(router_settings(kafka_bootstrap, pg_urls["router"], topics, group))
    async with running(settings) as cv, serve(router):
        http = cv.client
        event = to_cloudevent(
            MessageReceived(message=first),
            source=INGEST,
            subject=first.message_id,
            event_id=first.message_id,
        )
        await producer.send_and_wait(
            topics.inbound, event.to_json(), key=str(first.message_id).encode()
        )

        async def located() -> Any:
            r = await http.get(f"/v1/contacts/{first.message_id}", headers=staff)
            return r.json() if r.status_code == 200 else None

        contact = await eventually(located, timeout=60)
        party = str(contact["party_id"])

        # Two contacts the counter registers for that resident (identity document checked).
        registered = []
        for minutes, kanaal, onderwerp in ((1, "balie", "Afspraak"), (2, "telefoon", "Terugbel")):
            r = await http.post(
                f"{PREFIX}/maak-klantcontact",
                json=maak(party, kanaal, onderwerp, start + timedelta(minutes=minutes)),
                headers=auth,
            )
            registered.append(conforms(r, 201)["klantcontact"]["uuid"])

        # A member of the owning team registers that they called the resident back.
        case = (await http.get(f"/v1/cases/{contact['case_id']}", headers=staff)).json()
        member = token(f"u-{secret[:8]}", teams=[case["owner_team"]], roles=["member"])
        r = await http.post(
            f"/v1/cases/{case['id']}/outbound-contacts",
            json={"channel": "phone", "summary": "Teruggebeld"},
            headers=member,
        )
        assert r.status_code == 202, r.text

        query = {"hadBetrokkene__wasPartij__uuid": party}

        async def all_four() -> Any:
            page = conforms(await http.get(f"{PREFIX}/klantcontacten", params=query, headers=auth))
            return page if page["count"] == 4 else None

        page = await eventually(all_four, timeout=60)
        timeline = (await http.get(f"/v1/parties/{party}/timeline", headers=staff)).json()

    items = timeline["items"]
    history = [str(e["data"][CONTACTS[e["type"]]]) for e in items if e["type"] in CONTACTS]
    facade = [r["uuid"] for r in page["results"]]
    # Same contacts, same order (newest first), and the registered ones are the resident's own.
    assert facade == history
    assert set(facade) - {str(first.message_id), *registered} == {history[0]}
    by_id = {r["uuid"]: r for r in page["results"]}
    called = by_id[history[0]]  # the newest: the municipality's call
    assert (called["kanaal"], called["inhoud"]) == ("phone", "Teruggebeld")
    assert called["hadBetrokkenActoren"][0]["naam"] == f"u-{secret[:8]}"
    assert [by_id[u]["kanaal"] for u in registered] == ["counter", "phone"]
    assert by_id[registered[1]]["onderwerp"] == "Terugbel"
