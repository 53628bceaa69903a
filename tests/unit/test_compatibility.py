"""The compatibility promise, enforced (docs/compatibility.md): the committed event schemas
are the models', and /v1 and the event types are compatible with the last release kept in
docs/releases/ — checked with oasdiff, which these tests also show failing on a break."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.contracts import EVENT_TYPES
from shared.contracts.schemas import event_schemas, render
from tests.unit.deploy_files import ROOT


def load(name: str) -> ModuleType:
    """A script of deploy/local/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / "local" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


compatibility = load("compatibility")


@pytest.fixture(scope="module")
def oasdiff() -> str:
    return str(compatibility.oasdiff())


@pytest.fixture
def current(tmp_path: Path) -> Path:
    """A copy of the current documents to break: ``api/`` and ``events/``."""
    shutil.copytree(ROOT / "docs" / "api", tmp_path / "api")
    shutil.copytree(ROOT / "docs" / "events", tmp_path / "events")
    return tmp_path


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def latest() -> str:
    return str(compatibility.releases()[-1])


def breaks(current: Path, oasdiff: str) -> dict[str, str]:
    """What the edited copy breaks of the last release."""
    problems: dict[str, str] = compatibility.check(
        latest(), current / "api", current / "events", oasdiff
    )
    return problems


def test_the_committed_event_schemas_are_the_models():
    committed = {p.stem: p.read_text() for p in (ROOT / "docs" / "events").glob("*.json")}
    generated = {t: render(s) for t, s in event_schemas().items()}
    assert committed == generated, "run `make events` and commit the result"


def test_every_event_type_is_documented():
    events_md = (ROOT / "docs" / "events.md").read_text()
    assert set(event_schemas()) == set(EVENT_TYPES)
    assert [t for t in EVENT_TYPES if f"`{t}`" not in events_md] == []


def test_this_versions_release_documents_are_kept():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version in compatibility.releases()


def test_main_is_compatible_with_the_last_release(oasdiff: str):
    assert compatibility.check(latest(), tool=oasdiff) == {}


def test_a_removed_path_is_breaking(oasdiff: str, current: Path):
    def remove_a_v1_path(document: dict[str, Any]) -> None:
        del document["paths"][sorted(p for p in document["paths"] if p.startswith("/v1/"))[0]]

    edit(current / "api" / "caseview.json", remove_a_v1_path)
    problems = breaks(current, oasdiff)
    assert list(problems) == ["api/caseview.json"]
    assert "api-path-removed" in problems["api/caseview.json"]


def test_a_newly_required_request_field_is_breaking(oasdiff: str, current: Path):
    def require_everything(document: dict[str, Any]) -> None:
        schema = document["components"]["schemas"]["WebFormSubmission"]
        schema["required"] = sorted(schema["properties"])

    edit(current / "api" / "ingest.json", require_everything)
    problems = breaks(current, oasdiff)
    assert list(problems) == ["api/ingest.json"]
    assert "became required" in problems["api/ingest.json"]


def test_a_removed_event_field_is_breaking(oasdiff: str, current: Path):
    def drop_case_id(schema: dict[str, Any]) -> None:
        del schema["properties"]["case_id"]
        schema["required"].remove("case_id")

    edit(current / "events" / "nl.eenloket.case.opened.json", drop_case_id)
    problems = breaks(current, oasdiff)
    assert list(problems) == ["events"]
    assert "nl.eenloket.case.opened" in problems["events"]


def test_a_removed_event_type_is_breaking(oasdiff: str, current: Path):
    (current / "events" / "nl.eenloket.message.routed.json").unlink()
    problems = breaks(current, oasdiff)
    assert "nl.eenloket.message.routed" in problems["events"]


def test_an_added_optional_event_field_is_compatible(oasdiff: str, current: Path):
    def add_optional(schema: dict[str, Any]) -> None:
        schema["properties"]["channel_hint"] = {"type": "string"}

    edit(current / "events" / "nl.eenloket.case.opened.json", add_optional)
    assert breaks(current, oasdiff) == {}
