"""The console's queue, team-lead overview, order of history and attachments (issue #19), and
the console-wide checks: focus contrast in the header, no sideways scrolling at 320 CSS px.

Set EENLOKET_CONSOLE_SCREENSHOTS=docs/img to (re)write the console-queue-* screenshots.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from services.caseview.auth import mint_token
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console_support import Stack, console_errors, console_stack, poll
from tests.e2e.test_console import WAIT, browser, kvk_number, live, log_in, shoot, text_in, wait

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
__all__ = ["browser"]  # the fixture, shared with test_console.py

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PAGES = ("index.html", "wachtrij.html")

# WCAG relative luminance and contrast of two computed CSS colours ("rgb(a)(r, g, b...)").
CONTRAST_JS = """
const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => {
  v = v / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05); };
const el = document.activeElement, s = getComputedStyle(el);
const header = getComputedStyle(document.querySelector('.site-header')).backgroundColor;
return { text: ratio(s.color, s.backgroundColor), indicator: ratio(s.backgroundColor, header),
         id: el.id, tag: el.tagName };
"""


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap, pg_dsn, tmp_path_factory):
    async with console_stack(kafka_bootstrap, pg_dsn, tmp_path_factory.mktemp("queue")) as s:
        yield s


def _post(http: httpx.Client, stack: Stack, channel: str, body: dict[str, object]) -> str:
    r = http.post(
        f"{stack.ingest}/v1/channels/{channel}", json=body, headers={"X-Api-Key": stack.portal_key}
    )
    assert r.status_code == 202, r.text
    message_id: str = r.json()["message_id"]
    return message_id


def _reflows(driver: webdriver.Chrome, what: str) -> None:
    wide = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    wider = driver.execute_script(
        "return [...document.querySelectorAll('body *')]"
        ".filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert wide[0] <= wide[1], f"{what} scrolls sideways at 320 px: {wide} {wider}"


def test_queue_overview_history_order_attachments_focus_and_reflow(
    stack: Stack, browser: webdriver.Chrome
):
    driver = browser
    kvk = kvk_number()
    name = "Stichting Terras Korvel"
    login = {"authentication": "eherkenning", "kvk": kvk, "name": name}
    with httpx.Client(timeout=10) as http:
        live_id = stack.submit(
            http,
            {**login, "subject": "Terras aan de Korvelseweg", "text": "Mag ons terras groter?"},
        )
        where = poll(lambda: stack.located(http, live_id), timeout=WAIT)
        october = (datetime.now(UTC) - timedelta(days=60)).isoformat()
        old_id = stack.submit(
            http,
            {
                **login,
                "submitted_at": october,
                "subject": "Oude brief over het terras",
                "text": "Uit het oude systeem overgenomen.",
            },
        )
        photo_id = _post(
            http,
            stack,
            "app",
            {
                "message_id": f"app-{uuid.uuid4()}",
                "conversation_id": f"conv-{uuid.uuid4()}",
                "party": login,
                "subject": "Foto van het terras",
                "text": "Zo ziet het er nu uit.",
                "attachments": [
                    {
                        "filename": "terras.png",
                        "media_type": "image/png",
                        "content_base64": base64.b64encode(PNG).decode(),
                    }
                ],
            },
        )
        old = poll(lambda: stack.located(http, old_id), timeout=WAIT)
        photo = poll(lambda: stack.located(http, photo_id), timeout=WAIT)
        case_id = where["case_id"]
        assert old["case_id"] == case_id, "the older contact joins the same case"
        kcc = mint_token("console-test", teams=["kcc"], roles=["kcc"])
        r = http.get(
            f"{stack.caseview}/v1/cases/{case_id}",
            headers={"Authorization": f"Bearer {kcc}", "X-Purpose": "test setup"},
        )
        owner = r.json()["owner_team"]

    # 1. The queue as the owning team's lead: columns, order, filter, overview.
    log_in(driver, stack, "teamleider-kcc", "lead", [owner])
    driver.get(f"{stack.console}wachtrij.html")
    wait(driver, ec.title_contains("Wachtrij"), "the queue")
    live(driver)
    row = f'#wachtrij tr[data-case-id="{case_id}"]'
    # The subject of the case's first contact (by when it happened: the imported letter).
    text_in(driver, row, "Oude brief over het terras")
    text_in(driver, row, name)
    text_in(driver, row, "Web")
    text_in(driver, "#overzicht-cijfers", "Open zaken (achterstand)")
    text_in(driver, "#leeftijd-rijen", "Korter dan een dag")
    headers = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#wachtrij-tabel thead th")]
    assert headers == [
        "Zaak", "Onderwerp", "Inwoner", "Kanaal", "Status", "Rol van het team",
        "Leeftijd", "Termijn", "Overdrachten",
    ]  # fmt: skip
    shoot(driver, "console-queue-queue.png")
    assert_accessible(driver, "queue filled")
    Select(driver.find_element(By.ID, "sortering")).select_by_value("due")
    submit = driver.find_element(By.CSS_SELECTOR, "#wachtrijformulier button[type=submit]")
    submit.send_keys(Keys.ENTER)  # keyboard
    text_in(driver, "#wachtrij-aantal", "eerste termijn eerst")
    assert "volgorde=due" in driver.current_url
    Select(driver.find_element(By.ID, "statusfilter")).select_by_value("wacht op inwoner")
    driver.find_element(By.CSS_SELECTOR, "#wachtrijformulier button[type=submit]").click()
    text_in(driver, "#wachtrij", "Geen open zaken.")
    text_in(driver, "#wachtrij-aantal", "met status Wacht op inwoner")
    assert_accessible(driver, "queue empty (filtered)")

    # 2. The case's history: newest first by when it happened; the imported letter last,
    # with the time it was recorded; the photo opened through caseview.
    driver.get(f"{stack.console}zaak.html?id={case_id}")
    live(driver)
    text_in(driver, "#geschiedenis", "Oude brief over het terras")
    entries = driver.find_elements(By.CSS_SELECTOR, "#geschiedenis li.entry")
    titles = [e.find_element(By.TAG_NAME, "h3").text for e in entries]
    newer = next(i for i, t in enumerate(titles) if "Terras aan de Korvelseweg" in t)
    older = next(i for i, t in enumerate(titles) if "Oude brief" in t)
    assert newer < older, titles
    assert "geïmporteerd" in entries[older].text and "vastgelegd" in entries[older].text
    assert "geïmporteerd" not in entries[newer].text
    opener = driver.find_element(By.CSS_SELECTOR, "#geschiedenis button.attachment-open")
    assert opener.text == "terras.png openen"
    driver.execute_script("arguments[0].focus()", opener)
    opener.send_keys(Keys.ENTER)
    image = wait(
        driver,
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#geschiedenis img.attachment-preview")),
        "the photo's preview",
    )
    assert (image.get_attribute("src") or "").startswith("blob:")
    assert driver.execute_script("return arguments[0].naturalWidth", image) == 1
    shoot(driver, "console-queue-attachment.png")
    assert_accessible(driver, "case with imported history and an attachment")
    assert photo["case_id"] == case_id

    # The access log shows the opening, read as an auditor through the API.
    auditor = mint_token("auditor-1", teams=[], roles=["auditor"])
    with httpx.Client(timeout=10) as http:
        r = http.get(
            f"{stack.caseview}/v1/access-log",
            params={"case_id": case_id},
            headers={"Authorization": f"Bearer {auditor}"},
        )
    assert r.status_code == 200, r.text
    opened = [e for e in r.json()["items"] if e.get("detail") == "attachment"]
    assert [(e["user"], e["outcome"]) for e in opened] == [("teamleider-kcc", "ok")]

    # 3. Focus in the header: readable text and an indicator >= 3:1 against the header.
    driver.get(f"{stack.console}wachtrij.html")
    live(driver)
    driver.execute_script("document.querySelector('#menu-wachtrij').focus()")
    # Focus by keyboard (focus-visible): Shift+Tab back to the link and Tab onto it again.
    driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    seen = driver.execute_script(CONTRAST_JS)
    assert seen["id"] == "menu-wachtrij", seen
    assert seen["text"] >= 4.5 and seen["indicator"] >= 3, seen

    # 4. Reflow: no page scrolls sideways at 320 CSS px.
    driver.set_window_size(320, 900)
    width = driver.execute_script("return window.innerWidth")
    if width != 320:  # the window's frame: widen until the page itself is 320 px
        driver.set_window_size(320 + (320 - width), 900)
    assert driver.execute_script("return window.innerWidth") == 320
    for page in PAGES:
        driver.get(f"{stack.console}{page}")
        wait(driver, ec.presence_of_element_located((By.ID, "gebruiker")), page)
        text_in(driver, "#gebruiker", "teamleider-kcc")
        _reflows(driver, page)
    for page, history in (
        (f"zaak.html?id={case_id}", "#geschiedenis"),
        (f"partij.html?id={where['party_id']}", "#tijdlijn"),
    ):
        driver.get(f"{stack.console}{page}")
        text_in(driver, history, "Terras")
        _reflows(driver, page)
    assert_accessible(driver, "party at 320 px")
    driver.get(f"{stack.console}aanmelden.html")
    _reflows(driver, "aanmelden.html")
    assert console_errors(driver) == []
