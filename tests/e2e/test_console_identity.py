"""Identity in the console, through the UI on data from the real pipeline: two residents
named Anna Jansen told apart in search (a BSN revealed, and the access-log entry it made),
the team's pending link suggestions, one confirmed and one rejected with a reason in the
dossier, a merge of two dossiers and its undo (after seeing what it moves back).

Set EENLOKET_CONSOLE_SCREENSHOTS=docs/img to (re)write the screenshots of docs/console.md.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from services.caseview.auth import mint_token
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console_support import (
    Stack,
    a_bsn,
    chromium,
    chromium_missing,
    console_errors,
    console_stack,
    poll,
)
from tests.e2e.test_console import WAIT, live, log_in, shoot, text_in, wait

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

USER = f"kcc-identiteit-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap, pg_dsn, tmp_path_factory):
    async with console_stack(kafka_bootstrap, pg_dsn, tmp_path_factory.mktemp("identity")) as s:
        yield s


@pytest.fixture
def driver(tmp_path) -> Iterator[webdriver.Chrome]:
    if why := chromium_missing():
        pytest.fail(f"the console test needs Chromium: {why}", pytrace=False)
    with chromium() as browser:
        try:
            yield browser
        finally:
            browser.save_screenshot(str(tmp_path / "last.png"))
            (tmp_path / "last.html").write_text(browser.page_source)


def form(subject: str, **sender: str) -> dict[str, Any]:
    """No product recognised: the contact centre owns the case (and its suggestions)."""
    return {"subject": subject, "text": f"{subject}. Graag een reactie.", **sender}


def party_of(stack: Stack, http: httpx.Client, message_id: str) -> str:
    found = poll(lambda: stack.located(http, message_id), timeout=WAIT)
    party: str = found["party_id"]
    return party


def decide(driver: webdriver.Chrome, card: str, choice: str, reason: str) -> None:
    article = driver.find_element(By.XPATH, f"//article[h4[contains(., '{card}')]]")
    article.find_element(By.CSS_SELECTOR, f"input[value='{choice}']").click()
    field = article.find_element(By.TAG_NAME, "textarea")
    field.clear()
    field.send_keys(reason)
    article.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_tell_apart_reveal_decide_merge_and_undo(stack: Stack, driver: webdriver.Chrome):
    bsn_a, bsn_b = a_bsn(), a_bsn()
    tag = uuid.uuid4().hex[:6]
    email_a = f"anna-{tag}@example.nl"
    with httpx.Client(timeout=10) as http:
        digid = {"authentication": "digid", "name": "Anna Jansen"}
        a = stack.submit(http, form("Een vraag", bsn=bsn_a, email=email_a, **digid))
        b = stack.submit(http, form("Nog een vraag", bsn=bsn_b, **digid))
        # Without a login: one types Anna A's e-mail address, one Anna B's BSN.
        p1 = stack.submit(http, form("Graag contact", name="A. Jansen", email=email_a))
        p2 = stack.submit(http, form("Terugbellen a.u.b.", name="Anna J.", bsn=bsn_b))
        p3 = stack.submit(
            http, form("Hallo", name="A. Jansen-Bakker", email=f"ajb-{tag}@example.nl")
        )
        party_a, party_b, _, _, party_3 = (party_of(stack, http, m) for m in (a, b, p1, p2, p3))

    # 1. Search by name: two Anna Jansens, told apart; a BSN revealed on request.
    log_in(driver, stack, USER, "kcc", ["kcc"])
    wait(driver, ec.title_contains("Zoeken"), "the search page")
    assert "ZAAK-2026-0000000123" in driver.find_element(By.ID, "zoekterm-hint").text
    Select(driver.find_element(By.ID, "zoek-op")).select_by_value("name")
    driver.find_element(By.ID, "zoekterm").send_keys("Anna Jansen")
    driver.find_element(By.ID, "doel-invoer").send_keys("Telefonische vraag")
    driver.find_element(By.CSS_SELECTOR, "#zoekformulier button[type=submit]").click()
    text_in(driver, "#resultaten-aantal", "2 resultaten")
    rows = driver.find_elements(By.CSS_SELECTOR, "#resultaten-lijst tr")
    cells = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")] for r in rows]
    masked = sorted(f"******{x[-3:]}" for x in (bsn_a, bsn_b))
    assert sorted(c[2].split()[0] for c in cells) == masked, cells
    assert all(c[0] == "Anna Jansen" and "Geauthenticeerd" in c[1] for c in cells)
    assert all(c[4] == "1" and c[3] != "—" for c in cells), cells
    assert bsn_a not in driver.page_source and bsn_b not in driver.page_source
    shoot(driver, "console-identity-search.png")
    assert_accessible(driver, "search: two namesakes")
    row_a = next(r for r in rows if f"******{bsn_a[-3:]}" in r.text)
    row_a.find_element(By.XPATH, ".//button[normalize-space()='toon']").click()
    text_in(driver, "#resultaten-lijst", bsn_a)
    text_in(driver, "#bsn-melding", "inzagelogboek")
    assert bsn_b not in driver.page_source
    assert_accessible(driver, "search: BSN revealed")
    auditor = mint_token("auditor-1", teams=["audit"], roles=["auditor"])
    with httpx.Client(timeout=10) as http:
        r = http.get(
            f"{stack.caseview}/v1/access-log",
            params={"user": USER, "party_id": party_a},
            headers={"Authorization": f"Bearer {auditor}"},
        )
    assert r.status_code == 200, r.text
    [reveal] = [e for e in r.json()["items"] if e["detail"] == "bsn revealed"]
    assert (reveal["endpoint"], reveal["outcome"], reveal["purpose"]) == (
        "GET /v1/parties/{party_id}/bsn",
        "ok",
        "Telefonische vraag",
    )

    # 2. The team's suggestions to decide, from the menu.
    driver.find_element(By.LINK_TEXT, "Koppelingen").click()
    wait(driver, ec.title_contains("Voorgestelde koppelingen"), "the suggestions page")
    text_in(driver, "#aantal", "2 voorgestelde koppelingen voor Klantcontactcentrum")
    text_in(driver, "#lijst", email_a)
    shoot(driver, "console-identity-suggestions.png")
    assert_accessible(driver, "suggestions of a team")

    # 3. Anna A's dossier: the evidence side by side; confirmed (the address verified).
    driver.get(f"{stack.console}partij.html?id={party_a}")
    live(driver)
    text_in(driver, "#koppelingen", "Koppeling 1: A. Jansen")
    evidence = driver.find_element(By.CSS_SELECTOR, "#koppelingen table.evidence").text
    assert email_a in evidence and "Opgegeven" in evidence and "Web" in evidence, evidence
    assert_accessible(driver, "party: a suggestion")
    decide(driver, "Koppeling 1", "verifieren", "Zelfde persoon: nieuw adres doorgegeven")
    text_in(driver, "#identiteit-melding", "bevestigd")
    text_in(driver, "#ondertitel", "2 samengevoegde registraties")
    text_in(driver, "#koppelingen", "Geen voorgestelde koppelingen.")
    assert_accessible(driver, "party: suggestion confirmed")

    # 4. Anna B's dossier: rejecting needs a reason; then rejected.
    driver.get(f"{stack.console}partij.html?id={party_b}")
    live(driver)
    text_in(driver, "#koppelingen", "Koppeling 1: Anna J.")
    decide(driver, "Koppeling 1", "afwijzen", "")
    text_in(driver, "#koppelingen .field-error", "Vul de reden van het afwijzen in.")
    assert_accessible(driver, "party: rejection without a reason")
    decide(driver, "Koppeling 1", "afwijzen", "Andere persoon: geboortedatum wijkt af")
    text_in(driver, "#identiteit-melding", "afgewezen")
    text_in(driver, "#koppelingen", "Geen voorgestelde koppelingen.")

    # 5. Merge another dossier into Anna B's, see what an undo moves back, undo it.
    driver.find_element(By.ID, "ander-dossier").send_keys(party_3)
    driver.find_element(By.ID, "samenvoeg-reden").send_keys("Zelfde persoon, getrouwd")
    driver.find_element(By.ID, "samenvoegen-knop").click()
    text_in(driver, "#identiteit-melding", "het andere dossier is opgenomen")
    text_in(driver, "#samenvoegingen", "Zelfde persoon, getrouwd")
    driver.find_element(By.XPATH, "//summary[normalize-space()='Ongedaan maken…']").click()
    text_in(driver, "#samenvoegingen details", f"ajb-{tag}@example.nl")
    shoot(driver, "console-identity-party.png")
    assert_accessible(driver, "party: merged, undo preview")
    undo = driver.find_element(By.CSS_SELECTOR, "#samenvoegingen details")
    undo.find_element(By.TAG_NAME, "textarea").send_keys("Toch twee personen")
    undo.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(driver, "#identiteit-melding", "er zijn weer twee dossiers")
    text_in(driver, "#samenvoegingen", "Niets samengevoegd in dit dossier.")
    assert_accessible(driver, "party: merge undone")
    assert console_errors(driver) == []


def test_search_by_postcode_and_house_number(stack: Stack, driver: webdriver.Chrome):
    """A scanned letter gives its sender's postal address (as written, so only stated); the
    contact centre finds her by postcode and house number, written the way people say it."""
    digits = random.randint(1000, 9999)
    with httpx.Client(timeout=10) as http:
        r = http.post(
            f"{stack.ingest}/v1/channels/letter",
            json={
                "letter_id": f"post-{uuid.uuid4().hex[:8]}",
                "received_at": "2026-12-01T09:00:00Z",
                "sender": {
                    "name": "Mevrouw L. Visser",
                    "address_lines": ["Dorpsstraat 7b", f"{digits} KL Ergenshoven"],
                },
                "subject": "Vraag over de stoep",
                "ocr_text": "Geachte heer, mevrouw, de stoep voor mijn huis is verzakt.",
                "scan": {
                    "filename": "brief.pdf",
                    "media_type": "application/pdf",
                    "content_base64": base64.b64encode(b"%PDF-1.4\n% brief\n%%EOF\n").decode(),
                },
            },
            headers={"X-Api-Key": stack.portal_key},
        )
        assert r.status_code == 202, r.text
        party_of(stack, http, r.json()["message_id"])
    log_in(driver, stack, USER, "kcc", ["kcc"])
    wait(driver, ec.title_contains("Zoeken"), "the search page")
    Select(driver.find_element(By.ID, "zoek-op")).select_by_value("postcode")
    driver.find_element(By.ID, "zoekterm").send_keys(f"{digits} kl 7")
    driver.find_element(By.ID, "doel-invoer").send_keys("Brief over de stoep")
    driver.find_element(By.CSS_SELECTOR, "#zoekformulier button[type=submit]").click()
    text_in(driver, "#resultaten-aantal", "1 resultaat")
    text_in(driver, "#resultaten-lijst", "Mevrouw L. Visser")
    text_in(driver, "#resultaten-lijst", f"{digits} KL 7")
    assert_accessible(driver, "search: by postcode and house number")
    assert console_errors(driver) == []
