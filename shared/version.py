"""The project's one version: ``pyproject.toml``'s ``[project] version`` (docs/compatibility.md).

In a source checkout that file is read directly, so a bumped version shows before the editable
install is refreshed; an installed copy (the image) reads the package metadata pip wrote from it.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from functools import cache
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@cache
def version() -> str:
    if PYPROJECT.is_file():
        with PYPROJECT.open("rb") as f:
            project = tomllib.load(f).get("project", {})
        if project.get("name") == "eenloket":
            return str(project["version"])
    return importlib.metadata.version("eenloket")
