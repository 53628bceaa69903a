"""The NL Design System CSS vendored for the resident pages is exactly the pinned npm
packages' files (deploy/local/web-assets: package.json and its lock), so a copy cannot drift
from the version and licence named in static/vendor/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.caseview.mijn_zaken import STATIC
from tests.e2e.accessibility import ROOT, axe_path

pytestmark = [pytest.mark.e2e]

VENDORED = {  # the file in static/vendor/: (package, its file)
    "utrecht-component-library.css": ("@utrecht/component-library-css", "dist/index.css"),
    "voorbeeld-theme.css": ("@nl-design-system-unstable/voorbeeld-design-tokens", "dist/theme.css"),
    "LICENSE-EUPL-1.2.md": ("@utrecht/component-library-css", "LICENSE.md"),
}


def installed() -> Path:
    """node_modules of the installed web assets (installed now if missing or out of date)."""
    return axe_path().parents[1]  # .../node_modules/axe-core/axe.min.js


def test_the_vendored_css_is_byte_equal_to_the_pinned_packages() -> None:
    modules = installed()
    pinned = json.loads((ROOT / "deploy/local/web-assets/package.json").read_text())
    readme = (STATIC / "vendor" / "README.md").read_text()
    for name, (package, inside) in VENDORED.items():
        manifest = json.loads((modules / package / "package.json").read_text())
        assert manifest["version"] == pinned["dependencies"][package]
        assert manifest["license"] == "EUPL-1.2", package
        assert f"`{package}` | {manifest['version']} | EUPL-1.2" in readme, package
        ours, theirs = STATIC / "vendor" / name, modules / package / inside
        assert ours.read_bytes() == theirs.read_bytes(), f"{name} differs from {package}/{inside}"
