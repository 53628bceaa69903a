"""docs/events.md lists every registered CloudEvents type with its model, and every topic."""

from __future__ import annotations

import re
from pathlib import Path

from shared.contracts import EVENT_TYPES
from shared.settings import ServiceSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
ROW = re.compile(
    r"^\| `(nl\.eenloket\.[a-z.-]+)` \| `(omni\.[a-z0-9.-]+)` \| `(\w+)\.(\w+)` \|", re.M
)


def test_every_type_is_documented_once_with_its_model():
    rows = ROW.findall(DOC)
    documented = [t for t, *_ in rows]
    assert sorted(documented) == sorted(EVENT_TYPES), "docs/events.md and the contracts differ"
    for type_name, _topic, module, model in rows:
        cls = EVENT_TYPES[type_name]
        assert (cls.__module__.rsplit(".", 1)[-1], cls.__name__) == (module, model), type_name


def test_every_topic_is_documented():
    topics = set(re.findall(r"^\| `(omni\.[a-z0-9.-]+)` \|", DOC, re.M))
    assert topics == {t.name for t in ServiceSettings().topic_specs()}
    for _t, topic, *_ in ROW.findall(DOC):
        assert topic in topics
