"""The resident's live stream of a case (/v1/me/cases/{id}/events) against a real Keycloak:
it says *that* the case changed (the case id, nothing more), only for changes the resident
may see, resumes with Last-Event-ID, and answers 404 alike for not-mine and not-existing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts import CaseStatusChanged, Channel, NoteAdded
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    http_server,
    projected,
    send,
    settings_for,
)
from tests.integration.caseview.test_caseview_live import subscribe
from tests.integration.caseview.test_caseview_resident import JANSEN, bearer, resident_token
from tests.keycloak import Keycloak

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]

SECRET_NOTE = "Intern: niet voor de inwoner"


def status(me: Party, case_id: uuid.UUID, old: str, new: str) -> Any:
    return me.event(
        CaseStatusChanged(
            case_id=case_id, party_id=me.id, from_status=old, to_status=new, by=STAFF, at=me.at()
        )
    )


async def test_the_stream_says_only_that_my_case_changed_and_resumes(
    kc: Keycloak, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, producer: Any
) -> None:
    me, other = Party(), Party()
    case_id, number, opened = me.case(
        "paspoort", "burgerzaken", due_at=datetime.now(UTC) + timedelta(days=5)
    )
    other_case, _, other_opened = other.case("paspoort", "burgerzaken")
    setup = [
        me.created("Jan Jansen", ("bsn", JANSEN, "authenticated")),
        opened,
        me.message(case_id, number, Channel.WEB, "Mijn paspoort verloopt."),
        other.created("Iemand anders", ("bsn", "999990019", "authenticated")),
        other_opened,
    ]
    await send(producer, topics.timeline, *setup)
    settings = settings_for(
        pg_urls["caseview"], kafka_bootstrap, topics, oidc_issuer=kc.issuer, oidc_discovery=True
    )
    token = await resident_token(kc, "inwoner-jansen")
    path = f"/v1/me/cases/{case_id}/events"
    async with http_server(settings) as base:
        await projected(settings, *setup)

        async with subscribe(base, path, bearer(token)) as stream:
            note = me.event(
                NoteAdded(
                    note_id=uuid.uuid4(),
                    case_id=case_id,
                    party_id=me.id,
                    text=SECRET_NOTE,
                    by=STAFF,
                    at=me.at(),
                )
            )
            # The note is not signalled (not even as a moment); the status change is.
            await send(
                producer, topics.timeline, note, status(me, case_id, "open", "in behandeling")
            )
            frame = await stream.next()
            assert frame.event == "zaak-gewijzigd"
            assert frame.data == {"case_id": str(case_id)}  # no contents
            resume_at = frame.id

        later = status(me, case_id, "in behandeling", "wacht op inwoner")
        await send(producer, topics.timeline, later)
        await projected(settings, later)
        async with subscribe(base, path, bearer(token), last_event_id=resume_at) as stream:
            missed = await stream.next()
            assert missed.id > resume_at and missed.data == {"case_id": str(case_id)}

        async with httpx.AsyncClient(base_url=base) as client:
            # Not mine and not existing: the same 404 with the same words; no token: 401.
            answers = [
                await client.get(f"/v1/me/cases/{c}/events", headers=bearer(token))
                for c in (other_case, uuid.uuid4())
            ]
            assert {a.status_code for a in answers} == {404}
            assert len({json.dumps({**a.json(), "instance": None}) for a in answers}) == 1
            assert (await client.get(path)).status_code == 401
            bad = await client.get(path, headers={**bearer(token), "Last-Event-ID": "x"})
            assert bad.status_code == 400

            # Opening the stream is a logged read, as "geschiedenis" of this case.
            looked = await client.get("/v1/me/access-log", headers=bearer(token))
            assert looked.status_code == 200, looked.text
            own = [
                e
                for e in looked.json()["items"]
                if e["own_read"] and e["case_number"] == number and e["what"] == "geschiedenis"
            ]
            assert own and own[0]["purpose"] == "inzage door betrokkene"
