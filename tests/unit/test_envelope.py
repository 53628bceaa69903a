import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from pydantic import ValidationError

from shared.contracts import Channel, InboundMessage, MessageReceived, to_cloudevent
from shared.contracts.base import Event
from shared.envelope import CloudEvent, envelope_json, source_urn, utc_iso
from shared.ids import new_id

SOURCE = source_urn("00000001234567890000", "eenloket-ingest")


def _event(**overrides):
    fields = {"source": SOURCE, "type": "nl.eenloket.message.received", "data": {"a": 1}}
    return CloudEvent(**(fields | overrides))


def test_structured_json_roundtrip():
    event = _event(subject=str(uuid.uuid4()), sequence=3)
    assert CloudEvent.from_json(event.to_json()) == event


def test_independent_cloudevents_implementation_accepts_it():
    event = _event(subject=str(uuid.uuid4()))
    message = KafkaMessage(
        headers={"content-type": b"application/cloudevents+json"}, key=None, value=event.to_json()
    )
    parsed = from_kafka(message, JSONFormat())
    attributes = parsed.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] == str(event.id)
    assert attributes["type"] == "nl.eenloket.message.received"
    assert parsed.get_data() == {"a": 1}


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "jan@example.nl"},  # personal data in an attribute
        {"subject": "123456782"},  # a BSN
        {"source": "eenloket-ingest"},  # not an NL GOV URN
        {"source": "urn:nld:oin:123:systeem:x"},  # OIN is 20 digits
        {"type": "MessageReceived"},  # not reverse-DNS
        {"specversion": "0.3"},
        {"time": datetime(2026, 1, 1)},  # naive time
        {"sequence": -1},
    ],
)
def test_envelope_refuses(overrides):
    with pytest.raises(ValidationError):
        _event(**overrides)


def test_ids_are_uuid7_time_ordered():
    a, b = _event(), _event()
    assert a.id.version == 7
    assert a.id < b.id


def test_ids_increase_strictly_within_one_millisecond_and_carry_the_time():
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]  # many per millisecond
    after = time.time_ns() // 1_000_000
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert before <= ids[0].int >> 80 <= ids[-1].int >> 80 <= after


def test_contract_roundtrip_through_envelope():
    message = InboundMessage(
        message_id=uuid.uuid4(), channel=Channel.WEB, received_at=datetime.now(UTC), text="hoi"
    )
    envelope = to_cloudevent(
        MessageReceived(message=message), source=SOURCE, subject=message.message_id
    )
    back = Event.from_cloudevent(CloudEvent.from_json(envelope.to_json()))
    assert back == MessageReceived(message=message)
    assert orjson.loads(envelope.to_json())["datacontenttype"] == "application/json"


def test_contracts_are_frozen_and_tolerant_readers():
    message = InboundMessage(
        message_id=uuid.uuid4(), channel=Channel.WEB, received_at=datetime.now(UTC)
    )
    with pytest.raises(ValidationError):
        message.text = "changed"  # type: ignore[misc]
    # A newer producer's extra optional field does not break an older consumer.
    newer = InboundMessage.model_validate(message.model_dump() | {"added_in_v1_1": 1})
    assert newer == message


def test_envelope_extensions_follow_the_naming_rule():
    event = CloudEvent.from_json(_event(partitionkey="abc").to_json())
    assert event.model_extra == {"partitionkey": "abc"}
    with pytest.raises(ValidationError):
        _event(**{"Bad-Name": "x"})


@pytest.mark.parametrize("sequence", [None, 0, 7])
@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 29, 4, 15, 8, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    ],
)
def test_envelope_json_is_what_the_validated_model_gives(sequence, moment):
    # The router's cheap path must write exactly the JSON the envelope model would.
    message = InboundMessage(
        message_id=uuid.uuid4(), channel=Channel.WEB, received_at=moment, text="hoi"
    )
    payload = MessageReceived(message=message)
    subject, event_id = uuid.uuid4(), new_id()
    parts = {
        "source": SOURCE,
        "type": payload.TYPE,
        "subject": str(subject),
        "data": payload.model_dump(mode="json"),
        "time": moment,
        "sequence": sequence,
    }
    fast = envelope_json(**parts, event_id=event_id)
    model = to_cloudevent(
        payload, source=SOURCE, subject=subject, event_id=event_id, time=moment, sequence=sequence
    )
    assert fast == model.model_dump(mode="json", exclude_none=True)
    assert CloudEvent.model_validate(fast) == model
    # to_cloudevent is made from envelope_json: hold both to the model built field by field.
    direct = CloudEvent(**parts, id=event_id)
    assert fast == direct.model_dump(mode="json", exclude_none=True)


def test_envelope_json_writes_other_timezones_in_utc():
    amsterdam = datetime(2026, 6, 1, 12, 0, 0, 500, tzinfo=timezone(timedelta(hours=2)))
    assert utc_iso(amsterdam) == "2026-06-01T10:00:00.000500Z"
