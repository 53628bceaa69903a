"""WCAG 2.2 AA checks in the browser: axe-core (from npm, deploy/local/web-assets.sh) run in
the page the test has open, for every console page and state the tests reach.

``assert_accessible(driver, "zaak: overgedragen")`` fails the test on any violation and says
which rule, how severe, and which elements. axe-core is read once per session and injected
into each page that does not have it yet (Selenium's script injection is not bound by the
console's Content-Security-Policy, which forbids inline scripts for the pages themselves).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]
# The rules of WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe-core's tags for them).
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then(r => done(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))
  .catch(e => done([{id: "axe-error", impact: "critical", help: String(e), nodes: []}]));
"""


def axe_path() -> Path:
    """axe.min.js of the web assets (installed now if missing or out of date)."""
    path = subprocess.run(
        ["bash", str(ROOT / "deploy/local/web-assets.sh"), "path"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(path)


@functools.cache
def axe_source() -> str:
    return axe_path().read_text()


def violations(driver: WebDriver) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations in the page as it is now."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    found: list[dict[str, Any]] = driver.execute_async_script(_RUN, WCAG_22_AA)
    return found


def assert_accessible(driver: WebDriver, state: str) -> None:
    """No WCAG 2.2 AA violation in the page in this ``state`` (named in the failure)."""
    found = violations(driver)
    assert not found, f"{state}: {len(found)} WCAG violation(s):\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} — {', '.join(v['nodes'])}" for v in found
    )
