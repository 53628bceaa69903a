"""The accessibility check itself can fail: axe-core, as the console tests run it, names the
WCAG violations of a page that has them and none in a page that has none."""

from __future__ import annotations

import pytest

from tests.e2e.accessibility import assert_accessible, violations
from tests.e2e.console_support import chromium, chromium_missing

FLAWED = (
    "data:text/html,<html><body><img src='kaart.png'><input type=text>"
    "<p style='color:%23ddd;background:%23fff'>licht grijs</p></body></html>"
)
SOUND = (
    "data:text/html,<html lang='nl'><head><title>Goed</title></head>"
    "<body><main><h1>Goed</h1><p>Zwart op wit.</p></main></body></html>"
)


def test_axe_names_each_violation_and_passes_a_sound_page() -> None:
    if why := chromium_missing():
        pytest.fail(f"the accessibility check needs Chromium: {why}", pytrace=False)
    with chromium() as driver:
        driver.get(FLAWED)
        found = {v["id"] for v in violations(driver)}
        assert {"image-alt", "label", "color-contrast", "html-has-lang"} <= found
        with pytest.raises(AssertionError, match="image-alt"):
            assert_accessible(driver, "flawed")
        driver.get(SOUND)
        assert_accessible(driver, "sound")
