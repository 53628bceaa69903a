import uuid
from datetime import UTC, datetime

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from pydantic import ValidationError

from shared.contracts import Channel, InboundMessage, MessageReceived, to_cloudevent
from shared.contracts.base import Event
from shared.envelope import CloudEvent, source_urn

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
