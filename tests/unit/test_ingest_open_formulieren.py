"""Open Formulieren's JSON dump: the mapping file's model, and what a recorded-shape
submission becomes (sender and trust, subject, text, files, the idempotency key)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.ingest.auth import Caller
from services.ingest.open_formulieren.body import BadFileError, JsonDump
from services.ingest.open_formulieren.mapping import (
    FormMapping,
    MappingFileError,
    load_mappings,
)
from services.ingest.open_formulieren.message import (
    LoginNotAllowedError,
    MissingLoginValueError,
    fingerprint,
    submission,
)
from shared.contracts import Channel, Evidence, IdentifierKind, Trust

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "open_formulieren"
FORMS = FIXTURES / "forms.yaml"
MELDING = uuid.UUID("5b1d4a3e-8f0c-4b7e-9d2a-3c6f1e0a9b47")
OF = Caller(name="open-formulieren", may_assert_login=True)
UNVOUCHED = Caller(name="of-test", may_assert_login=False)
NOW = datetime(2026, 4, 6, 7, 30, tzinfo=UTC)


def recorded(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return body


def dump(name: str, **metadata) -> JsonDump:
    body = recorded(name)
    body["metadata"] |= metadata
    return JsonDump.model_validate(body)


def mapping_of(body: JsonDump) -> FormMapping:
    found = load_mappings(FORMS).find(body.metadata.form_id, body.metadata.slug)
    assert found is not None
    return found


def message(body: JsonDump, caller: Caller = OF):
    prepared = submission(body, mapping_of(body), caller)
    return prepared, prepared.build(uuid.uuid4(), [], NOW)


def senders(msg):
    return [(s.kind, s.value, s.trust, s.evidence) for s in msg.sender]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "forms.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the mapping file ------------------------------------------------------------------


def test_the_example_mapping_loads_and_finds_forms_by_uuid_then_slug():
    forms = load_mappings(FORMS)
    melding = forms.find(MELDING, None)
    assert melding is not None and melding.subject_field == "onderwerp"
    assert [f.key for f in melding.text] == ["omschrijving", "soortMelding", "terugbellen"]
    assert melding.text[1].label == "Soort"
    contact = forms.find(uuid.uuid4(), "contactformulier")
    assert contact is not None and contact.bsn_field == "burgerservicenummer"
    assert forms.find(uuid.uuid4(), "elders") is None  # no default: unknown form


def test_a_default_mapping_takes_unknown_forms(tmp_path):
    forms = load_mappings(write(tmp_path, "default:\n  email_field: email\n"))
    found = forms.find(uuid.uuid4(), None)
    assert found is not None and found.email_field == "email"


def test_no_file_knows_no_form():
    assert load_mappings(None).find(MELDING, "contactformulier") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("forms:\n  - subject: x\n", "forms.0: needs 'uuid' or 'slug'"),
        (
            f"forms:\n  - uuid: {MELDING}\n  - uuid: {MELDING}\n",
            f"forms.1: uuid {MELDING} is also forms.0",
        ),
        ("forms:\n  - slug: a\n  - slug: a\n", "forms.1: slug a is also forms.0"),
        ("forms:\n  - slug: a\n    subjct: x\n", "forms.0.subjct: Extra inputs"),
        ("forms:\n  - slug: a\n    email_field: 'a b'\n", "forms.0.email_field"),
        ("forms:\n  - slug: Met Spatie\n", "forms.0.slug"),
        ("forms:\n  - uuid: geen-uuid\n", "forms.0.uuid"),
        (f"default:\n  uuid: {MELDING}\n", "default: names no form"),
        ("forms: [\n", "not valid YAML"),
        ("- a list\n", "<file>"),
    ],
)
def test_a_bad_mapping_file_is_refused_naming_file_entry_and_field(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(MappingFileError) as caught:
        load_mappings(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert named in str(caught.value)


def test_a_missing_mapping_file_is_refused(tmp_path):
    with pytest.raises(MappingFileError, match="cannot read"):
        load_mappings(tmp_path / "absent.yaml")


# --- identity: trust from Open Formulieren's login only ---------------------------------


def test_a_digid_login_in_the_metadata_authenticates_the_bsn_and_typed_details_are_claimed():
    _, msg = message(dump("melding-digid"))
    assert senders(msg) == [
        (IdentifierKind.BSN, "999993653", Trust.AUTHENTICATED, Evidence.DIGID),
        (IdentifierKind.EMAIL, "jan.jansen@example.nl", Trust.CLAIMED, None),
        (IdentifierKind.PHONE, "+31612345678", Trust.CLAIMED, None),
    ]


def test_an_ehrkenning_login_authenticates_the_kvk_and_names_the_establishment():
    body = dump(
        "melding-digid",
        auth_type="kvk",
        auth_bsn="",
        auth_kvk="12345678",
        auth_context_branch_number="000012345678",
    )
    _, msg = message(body)
    assert senders(msg)[0] == (
        IdentifierKind.KVK,
        "12345678",
        Trust.AUTHENTICATED,
        Evidence.EHERKENNING,
    )
    assert msg.establishment == "000012345678"


def test_without_a_login_a_typed_bsn_is_claimed_at_most():
    _, msg = message(dump("contact-anoniem"))
    assert senders(msg) == [
        (IdentifierKind.BSN, "111222333", Trust.CLAIMED, None),
        (IdentifierKind.EMAIL, "piet@example.org", Trust.CLAIMED, None),
    ]


def test_a_bsn_in_the_values_named_like_the_static_variable_is_no_login():
    body = recorded("contact-anoniem")
    body["values"]["auth_bsn"] = "999993653"
    body["values"]["auth_type"] = "bsn"
    _, msg = message(JsonDump.model_validate(body))
    assert all(s.trust is Trust.CLAIMED for s in msg.sender)
    assert "999993653" not in [s.value for s in msg.sender]
    assert "999993653" not in msg.text  # Open Formulieren's own variables are not rendered


def test_the_login_bsn_replaces_a_different_typed_one():
    body = dump("contact-anoniem", auth_type="bsn", auth_bsn="999993653")
    _, msg = message(body)
    bsns = [(s.value, s.trust) for s in msg.sender if s.kind is IdentifierKind.BSN]
    assert bsns == [("999993653", Trust.AUTHENTICATED)]


def test_a_login_from_a_key_that_may_not_assert_logins_is_refused():
    with pytest.raises(LoginNotAllowedError):
        message(dump("melding-digid"), UNVOUCHED)
    _, msg = message(dump("contact-anoniem"), UNVOUCHED)  # no login: fine
    assert msg.sender


@pytest.mark.parametrize("auth_type", ["bsn", "kvk"])
def test_a_login_without_its_identifier_in_the_metadata_is_refused(auth_type):
    with pytest.raises(MissingLoginValueError):
        message(dump("melding-digid", auth_type=auth_type, auth_bsn=""))


def test_a_login_bsn_failing_the_11_proef_is_refused():
    with pytest.raises(ValueError, match="11-proef"):
        message(dump("melding-digid", auth_bsn="999993654"))


def test_pseudo_and_employee_logins_prove_nothing():
    for auth_type in ("pseudo", "employee_id"):
        _, msg = message(dump("melding-digid", auth_type=auth_type, auth_bsn=""), UNVOUCHED)
        assert all(s.trust is Trust.CLAIMED for s in msg.sender)


def test_a_typed_identifier_that_fails_its_check_is_left_out_not_refused():
    body = recorded("melding-digid")
    body["values"]["contact"] = {"email": "geen adres", "telefoon": "12"}
    _, msg = message(JsonDump.model_validate(body))
    assert [s.kind for s in msg.sender] == [IdentifierKind.BSN]


# --- subject, text, product, files ----------------------------------------------------


def test_subject_text_and_product_follow_the_mapping():
    prepared, msg = message(dump("melding-digid"))
    assert msg.channel is Channel.WEB
    assert msg.subject == "Losliggende stoeptegel"
    assert msg.text == (
        "Omschrijving: Voor Kerkstraat 12 ligt een stoeptegel los.\n"
        "Ik ben er bijna over gestruikeld.\n"
        "Soort: bestrating\n"
        "Wilt u teruggebeld worden?: nee\n"
        "Bijlagen: tegel.jpg, overzicht.pdf"
    )
    assert msg.product_hint == "Melding openbare ruimte"
    assert msg.channel_message_id == "OF-7KQ2M9"
    assert msg.received_at == NOW
    assert prepared.idempotency == [("open-formulieren:reference", "open-formulieren:OF-7KQ2M9")]


def test_a_fixed_subject_and_the_display_name():
    _, msg = message(dump("contact-anoniem"))
    assert msg.subject == "Vraag via het contactformulier"
    assert msg.display_name == "Piet de Vries"
    assert msg.text == (
        "Uw vraag: Wanneer wordt het grofvuil in de Dorpsstraat opgehaald?\nBijlagen: brief.txt"
    )


def test_the_default_mapping_renders_every_value_but_files_with_the_form_name_as_subject():
    body = dump("melding-digid")
    prepared = submission(body, FormMapping(), OF)
    msg = prepared.build(uuid.uuid4(), [], NOW)
    assert msg.subject == "Melding openbare ruimte"
    assert msg.text.startswith("Onderwerp: Losliggende stoeptegel\nOmschrijving: ")
    assert "Contact: email: Jan.Jansen@Example.nl; telefoon: 06 12345678" in msg.text
    assert "/9j/" not in msg.text  # no file content in the text
    assert [s.trust for s in msg.sender] == [Trust.AUTHENTICATED]  # no typed fields mapped


def test_files_single_multiple_and_in_an_edit_grid_become_blobs_with_a_media_type():
    prepared, _ = message(dump("melding-digid"))
    assert [(b.filename, b.media_type) for b in prepared.attachments] == [
        ("tegel.jpg", "image/jpeg"),
        ("overzicht.pdf", "application/pdf"),
    ]
    assert prepared.attachments[1].data.startswith(b"%PDF-1.4")
    body = recorded("contact-anoniem")
    body["values"]["regels"] = [{"bon": {"file_name": "bon", "content": "AAE="}}]
    prepared, _ = message(JsonDump.model_validate(body))
    assert [(b.filename, b.media_type) for b in prepared.attachments] == [
        ("brief.txt", "text/plain"),
        ("bon", "application/octet-stream"),
    ]


def test_a_file_that_is_not_base64_is_refused_with_its_place():
    body = recorded("contact-anoniem")
    body["values"]["bijlage"]["content"] = "niet base64!"
    with pytest.raises(BadFileError) as caught:
        message(JsonDump.model_validate(body))
    assert caught.value.path == "values.bijlage"


def test_the_fingerprint_ignores_a_retry_s_new_timestamp_but_not_other_content():
    first = dump("melding-digid")
    retried = dump("melding-digid", registration_timestamp="2026-04-06T11:00:00+02:00")
    assert fingerprint(first) == fingerprint(retried)
    other = copy.deepcopy(recorded("melding-digid"))
    other["values"]["onderwerp"] = "Kapotte lantaarnpaal"
    assert fingerprint(first) != fingerprint(JsonDump.model_validate(other))
