"""The data schema of every CloudEvents type, as JSON Schema generated from its model.

Committed under docs/events/ (``python -m shared.contracts.schemas docs/events``), like the
OpenAPI documents under docs/api/; a test holds the committed files to the models, and the
release check diffs them against the last release's (docs/compatibility.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts import EVENT_TYPES


def event_schemas() -> dict[str, dict[str, Any]]:
    """Type → the JSON Schema of its ``data`` as producers write it (serialization mode)."""
    schemas = {}
    for type_name, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema(mode="serialization")
        schemas[type_name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:eenloket:event:{type_name}",
            **schema,
        }
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(folder: Path) -> list[Path]:
    """Write one ``<type>.json`` per event type into ``folder``, removing stale ones."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{t}.json": s for t, s in event_schemas().items()}
    for old in folder.glob("nl.eenloket.*.json"):
        if old.name not in wanted:
            old.unlink()
    written = []
    for name, schema in wanted.items():
        (folder / name).write_text(render(schema))
        written.append(folder / name)
    return written


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events"))
