"""docs/channels.md agrees with what `make demo` accepts (issue #21): every key variable its
examples use is one the demo prints, and the examples call the demo's ingest port."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from scenarios.stack import INTEGRATIONS, KEY_VARIABLES, api_key, key_exports

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "channels.md").read_text(encoding="utf-8")


def test_every_key_variable_of_the_examples_is_printed_by_the_demo() -> None:
    used = set(re.findall(r"\$\{?([A-Z_]+_KEY)\b", DOC))
    assert used, "the examples name no key variable"
    printed = {line.split()[1].split("=")[0] for line in key_exports()}
    assert used <= printed
    assert set(KEY_VARIABLES) == set(INTEGRATIONS)
    assert f"export PORTAL_KEY={api_key('web')}" in key_exports()


def test_the_examples_call_the_demos_ingest_port() -> None:
    demo = runpy.run_path(str(ROOT / "deploy" / "local" / "demo.py"), run_name="not-main")
    ports = set(re.findall(r"curl [^\n]*http://127\.0\.0\.1:(\d+)/v1/channels", DOC))
    assert ports == {str(demo["PORT_BASE"])}


def test_the_doc_does_not_promise_keyless_posts_in_the_demo() -> None:
    assert "without ceremony" not in DOC
    assert "The demo runs ingest as production does" in DOC
