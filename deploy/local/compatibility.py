"""The compatibility promise, checked (docs/compatibility.md): the /v1 OpenAPI documents and
the CloudEvents data schemas against the last release's copies in docs/releases/<version>/,
with oasdiff (deploy/local/go-tools.sh) failing on a breaking change.

    python deploy/local/compatibility.py [RELEASE]   # default: the newest release kept

Event schemas are diffed as what a consumer receives: each type becomes the response of one
operation of a generated OpenAPI document, so oasdiff's response rules apply (a field removed
or retyped, a required field made optional, a type gone: breaking).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ROOT / "docs" / "releases"
API = ROOT / "docs" / "api"
EVENTS = ROOT / "docs" / "events"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def semver(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text)
    if match is None:
        raise ValueError(f"not a version x.y.z: {text!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def releases() -> list[str]:
    """The releases whose documents are kept, oldest first."""
    kept = [p.name for p in RELEASES.glob("*") if p.is_dir() and SEMVER.match(p.name)]
    return sorted(kept, key=semver)


def oasdiff() -> str:
    out = subprocess.run(  # noqa: S603 - our own script
        ["bash", str(ROOT / "deploy/local/go-tools.sh"), "path", "oasdiff"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return out.stdout.strip().splitlines()[-1]


def events_as_openapi(folder: Path) -> dict[str, Any]:
    """One OpenAPI document with an operation per event type answering with its data."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for file in sorted(folder.glob("*.json")):
        event_type = file.stem
        prefix = event_type.replace(".", "_").replace("-", "_") + "__"
        text = file.read_text().replace('"#/$defs/', f'"#/components/schemas/{prefix}')
        schema = json.loads(text)
        for name, definition in schema.pop("$defs", {}).items():
            components[prefix + name] = definition
        for key in ("$schema", "$id"):
            schema.pop(key, None)
        paths[f"/events/{event_type}"] = {
            "get": {
                "operationId": event_type,
                "responses": {
                    "200": {
                        "description": f"the data of a {event_type} event",
                        "content": {"application/json": {"schema": schema}},
                    }
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Eenloket CloudEvents data", "version": "events"},
        "paths": paths,
        "components": {"schemas": components},
    }


def breaking_changes(tool: str, base: Path, revision: Path) -> str:
    """oasdiff's report when ``revision`` breaks ``base`` (both OpenAPI files), else ""."""
    result = subprocess.run(  # noqa: S603 - the tool go-tools.sh built
        [tool, "breaking", str(base), str(revision), "--fail-on", "ERR"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode == 0:
        return ""
    return (result.stdout + result.stderr).strip() or f"oasdiff exited {result.returncode}"


def check(
    release: str, api: Path = API, events: Path = EVENTS, tool: str | None = None
) -> dict[str, str]:
    """Each document (``api/<name>.json``, ``events``) that breaks ``release``'s → the report."""
    tool = tool or oasdiff()
    kept = RELEASES / release
    problems: dict[str, str] = {}
    for base in sorted((kept / "api").glob("*.json")):
        revision = api / base.name
        if not revision.exists():
            problems[f"api/{base.name}"] = "the document is gone"
            continue
        report = breaking_changes(tool, base, revision)
        if report:
            problems[f"api/{base.name}"] = report
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp, "base.json"), Path(tmp, "revision.json")
        old.write_text(json.dumps(events_as_openapi(kept / "events")))
        new.write_text(json.dumps(events_as_openapi(events)))
        report = breaking_changes(tool, old, new)
        if report:
            problems["events"] = report
    return problems


def main(argv: list[str]) -> int:
    kept = releases()
    if not kept:
        print("compatibility: no release kept in docs/releases/", file=sys.stderr)
        return 1
    release = argv[0] if argv else kept[-1]
    problems = check(release)
    for name, report in problems.items():
        print(f"== {name} breaks {release}:\n{report}\n", file=sys.stderr)
    if not problems:
        print(f"compatibility: /v1 and the event types are compatible with {release}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
