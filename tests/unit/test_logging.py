import logging
import sys

import orjson

from shared.logging import JsonFormatter, scrub


def _format(msg, *args, **extra):
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(record, k, v)
    return orjson.loads(JsonFormatter("test").format(record))


def test_scrub_removes_email_bsn_and_phone():
    out = scrub("from jan.jansen@example.nl bsn 123456782 tel +31 6 1234 5678")
    assert "jan.jansen" not in out
    assert "123456782" not in out
    assert "1234 5678" not in out


def test_only_allow_listed_fields_are_written():
    doc = _format("routed", party_id="p1", text="Mijn uitkering", email="a@b.nl", bsn="123456782")
    assert doc["party_id"] == "p1"
    assert "text" not in doc
    assert "email" not in doc
    assert "bsn" not in doc
    assert "123456782" not in orjson.dumps(doc).decode()


def test_personal_data_in_the_message_text_is_scrubbed():
    doc = _format("could not parse %s", "piet@example.nl")
    assert "piet@example.nl" not in doc["msg"]
    assert doc["service"] == "test"


def _parse(text):
    raise ValueError(f"bad input {text}")


def test_a_logged_exception_gives_its_types_and_frames_never_its_message():
    try:
        try:
            _parse("piet@example.nl 123456782")
        except ValueError as exc:
            raise LookupError("for piet@example.nl") from exc
    except LookupError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    doc = orjson.loads(JsonFormatter("test").format(record))
    assert doc["error_type"] == "LookupError"
    lines = doc["traceback"]
    assert lines[0] == "ValueError"  # oldest first, as Python prints it
    here = "tests/unit/test_logging.py:"
    assert any(line.startswith(here) and "in _parse" in line for line in lines)
    assert "raised from it: LookupError" in lines
    raw = orjson.dumps(doc).decode()
    assert "piet" not in raw
    assert "123456782" not in raw
