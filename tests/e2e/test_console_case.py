"""Acting on a case in the console (issue #19), in headless Chromium on the real pipeline:
a resident writes through the web form with an e-mail address (only stated by her, so
"opgegeven"); the contact centre replies from the case page (a refusal at the
confirmation box first, then keyboard only: preview, confirm, send), adds a note, changes
the status, lets a team join and leave, is refused a close without a result at that
field, and closes the case. Every step is confirmed live on the page.

The outbound service is not part of ``console_stack``: the reply stays "aangevraagd". A
second test pauses the router so that a colleague's command and the console's meet in its
queue: the router rejects the second, and the console says so at the form and the page top.
Set EENLOKET_CONSOLE_SCREENSHOTS=docs/img to (re)write the screenshots of docs/console.md.
"""

from __future__ import annotations

import os
import random
import signal
import uuid

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from services.caseview.auth import mint_token
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console_support import (
    Stack,
    console_errors,
    console_stack,
    poll,
)

# The browser fixture is test_console's (its evidence on failure: last.png, last.html).
from tests.e2e.test_console import WAIT, browser, live, log_in, shoot, text_in, wait  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap, pg_dsn, tmp_path_factory):
    async with console_stack(kafka_bootstrap, pg_dsn, tmp_path_factory.mktemp("case")) as s:
        yield s


def active_id(driver: WebDriver) -> str:
    return str(driver.switch_to.active_element.get_attribute("id"))


def press(driver: WebDriver, key: str) -> None:
    driver.switch_to.active_element.send_keys(key)


def expected_refusal(driver: webdriver.Chrome, path: str) -> None:
    """The browser logs the refused request (422) as an error: that one, and nothing else."""
    errors = console_errors(driver)
    assert errors and all(path in e and "422" in e for e in errors), errors


def test_reply_note_status_participants_and_close_from_the_case_page(
    stack: Stack,
    browser: webdriver.Chrome,  # noqa: F811 (the imported fixture)
):
    driver = browser
    email = f"f.elamrani-{random.randint(100_000, 999_999)}@example.nl"
    with httpx.Client(timeout=10) as http:
        sent = stack.submit(
            http,
            {
                "submission_id": f"case-{uuid.uuid4()}",
                "name": "Fatima El Amrani",
                "email": email,
                "subject": "Vraag over mijn aanvraag",
                "text": "Ik heb vorige week iets aangevraagd en nog niets gehoord. "
                "Wanneer hoor ik iets?",
            },
        )
        where = poll(lambda: stack.located(http, sent), timeout=WAIT)

    log_in(driver, stack, "kcc-medewerker-2", "kcc", ["kcc"])
    driver.get(f"{stack.console}zaak.html?id={where['case_id']}")
    live(driver)
    text_in(driver, "#eigenaar", "Klantcontactcentrum")

    # 1. The composer: the channel of her last message, her address with its rung.
    wait(
        driver,
        lambda d: d.find_element(By.ID, "antwoord-kanaal").get_attribute("value") == "email",
        "the channel of the last message (e-mail, for a web form)",
    )
    text_in(driver, "#ontvanger", f"E-mailadres: {email} — Opgegeven")
    text_in(driver, "#antwoord-kanaal-hint", "het kanaal waarop de inwoner het laatst schreef")
    text_in(driver, "#opgegeven-uitleg", "alleen zelf opgegeven")
    assert_accessible(driver, "case, composer empty")

    # A template and her own words; preview without confirming the stated address: refused
    # at the confirmation box, in Dutch, with the focus there.
    Select(driver.find_element(By.ID, "sjabloon")).select_by_value("algemeen-antwoord")
    words = "Uw aanvraag is in behandeling; u hoort binnen twee weken van ons."
    driver.find_element(By.ID, "antwoord-tekst").send_keys(words)
    driver.find_element(By.ID, "voorbeeld-knop").click()
    text_in(driver, "#bevestig-opgegeven-fout", "alleen opgegeven door de inwoner")
    assert active_id(driver) == "bevestig-opgegeven"
    assert driver.find_element(By.ID, "bevestig-opgegeven").get_attribute("aria-invalid")
    assert_accessible(driver, "case, reply refused")
    expected_refusal(driver, "/replies/preview")

    # 2. Keyboard only from the text: Tab to the box, Space, Tab, Enter (preview), Tab,
    # Enter (send).
    driver.find_element(By.ID, "antwoord-tekst").send_keys(Keys.END)
    press(driver, Keys.TAB)
    assert active_id(driver) == "bevestig-opgegeven"
    press(driver, Keys.SPACE)
    assert driver.find_element(By.ID, "bevestig-opgegeven").is_selected()
    press(driver, Keys.TAB)
    assert active_id(driver) == "voorbeeld-knop"
    press(driver, Keys.ENTER)
    text_in(driver, "#voorbeeld-tekst", words)
    text_in(driver, "#voorbeeld-tekst", "Beste Fatima El Amrani")
    text_in(driver, "#voorbeeld-gegevens", "Antwoord op uw vraag")
    assert active_id(driver) == "voorbeeld"
    shoot(driver, "console-case-reply.png")
    assert_accessible(driver, "case, reply preview")
    press(driver, Keys.TAB)
    assert active_id(driver) == "versturen-knop"
    press(driver, Keys.ENTER)
    text_in(driver, "#antwoord-status", "Het antwoord is aangevraagd")
    text_in(driver, "#geschiedenis", "Antwoord aan de inwoner via E-mail: Antwoord op uw vraag")
    text_in(driver, "#geschiedenis .reply-status", "aangevraagd")
    assert_accessible(driver, "case, reply requested")

    # 3. A note, a status, a team joins and leaves.
    note = "Inwoner belde ook; teruggebeld en uitgelegd."
    driver.find_element(By.ID, "notitie-tekst").send_keys(note)
    driver.find_element(By.ID, "notitie-knop").click()
    text_in(driver, "#notitie-status", "Notitie toegevoegd.")
    text_in(driver, "#geschiedenis", note)

    Select(driver.find_element(By.ID, "nieuwe-status")).select_by_value("in behandeling")
    driver.find_element(By.ID, "status-knop").click()
    text_in(driver, "#status-status", "Status gewijzigd in 'In behandeling'.")
    text_in(driver, "#overzicht", "In behandeling")

    Select(driver.find_element(By.ID, "deelnemer-team")).select_by_value("burgerzaken")
    driver.find_element(By.ID, "deelnemer-reden").send_keys("Aanvraag loopt bij Burgerzaken")
    driver.find_element(By.ID, "deelnemer-knop").click()
    text_in(driver, "#deelnemer-status", "Burgerzaken neemt deel aan de zaak.")
    text_in(driver, "#overzicht", "Burgerzaken")
    text_in(driver, "#geschiedenis", "Aanvraag loopt bij Burgerzaken")
    wait(
        driver,
        lambda d: (
            "burgerzaken"
            in [o.get_attribute("value") for o in Select(d.find_element(By.ID, "weg-team")).options]
        ),
        "Burgerzaken in the list of teams that can leave",
    )
    Select(driver.find_element(By.ID, "weg-team")).select_by_value("burgerzaken")
    driver.find_element(By.ID, "weg-reden").send_keys("Burgerzaken heeft gereageerd")
    driver.find_element(By.ID, "weg-knop").click()
    text_in(driver, "#weg-status", "Burgerzaken neemt niet meer deel.")
    text_in(driver, "#geschiedenis", "Burgerzaken neemt niet meer deel")
    assert_accessible(driver, "case, actions done")

    # 4. Closing without a result: caseview refuses; the Dutch reason is at the field.
    driver.find_element(By.ID, "afhandelen-knop").click()
    text_in(driver, "#resultaat-fout", "resultaat")
    assert active_id(driver) == "resultaat"
    assert driver.find_element(By.ID, "resultaat").get_attribute("aria-invalid") == "true"
    shoot(driver, "console-case-refused.png")
    assert_accessible(driver, "case, close refused")
    expected_refusal(driver, "/close")

    result = "Inwoner geïnformeerd over de behandeltermijn"
    driver.find_element(By.ID, "resultaat").send_keys(result)
    driver.find_element(By.ID, "afhandelen-knop").click()
    text_in(driver, "#afhandelen-status", "De zaak is afgehandeld.")
    text_in(driver, "#overzicht", result)
    text_in(driver, "#geschiedenis", f"Resultaat: {result}")
    wait(driver, ec.invisibility_of_element_located((By.ID, "antwoordformulier")), "no reply")
    assert_accessible(driver, "case, closed")
    assert console_errors(driver) == []


def test_a_command_the_router_rejects_later_is_shown_to_its_sender(
    stack: Stack,
    browser: webdriver.Chrome,  # noqa: F811 (the imported fixture)
):
    """Two colleagues set the same status at once: caseview accepts both (neither is on its
    read model yet), the router carries out the first and rejects the second. The router
    is paused (SIGSTOP) while both are sent, so they meet in its queue in this order."""
    driver = browser
    with httpx.Client(timeout=10) as http:
        sent = stack.submit(
            http,
            {
                "submission_id": f"case-{uuid.uuid4()}",
                "name": "Johan de Vries",
                "email": f"j.devries-{random.randint(100_000, 999_999)}@example.nl",
                "subject": "Vraag over mijn brief",
                "text": "Ik kreeg een brief van u en begrijp niet wat ik moet doen.",
            },
        )
        where = poll(lambda: stack.located(http, sent), timeout=WAIT)
        log_in(driver, stack, "kcc-medewerker-3", "kcc", ["kcc"])
        driver.get(f"{stack.console}zaak.html?id={where['case_id']}")
        live(driver)
        text_in(driver, "#eigenaar", "Klantcontactcentrum")
        status = wait(
            driver, ec.visibility_of_element_located((By.ID, "nieuwe-status")), "status form"
        )
        Select(status).select_by_value("in behandeling")

        os.kill(stack.router_pid, signal.SIGSTOP)
        try:
            colleague = mint_token("kcc-medewerker-4", teams=["kcc"], roles=["kcc"])
            first = http.post(
                f"{stack.caseview}/v1/cases/{where['case_id']}/status",
                json={"status": "in behandeling"},
                headers={"Authorization": f"Bearer {colleague}", "X-Purpose": "test"},
            )
            assert first.status_code == 202, first.text
            driver.find_element(By.ID, "status-knop").click()
            text_in(driver, "#status-status", "wacht op bevestiging")
        finally:
            os.kill(stack.router_pid, signal.SIGCONT)

    # At the form and at the top of the page, in Dutch: why it was not carried out.
    text_in(driver, "#status-status", "is geweigerd")
    text_in(driver, "#melding", "Uw opdracht is niet uitgevoerd")
    assert_accessible(driver, "case, command rejected by the router")
    assert console_errors(driver) == []


def test_a_handover_by_keyboard_only(
    stack: Stack,
    browser: webdriver.Chrome,  # noqa: F811 (the imported fixture)
):
    """The handover form by keyboard: the team typed into the list, Tab to the reason, Tab
    to the button, Enter."""
    driver = browser
    with httpx.Client(timeout=10) as http:
        sent = stack.submit(
            http,
            {
                "name": "Kees Bakker",
                "subject": "Vraag over een brief",
                "text": "Ik kreeg een brief van u en weet niet wat ik ermee moet.",
            },
        )
        where = poll(lambda: stack.located(http, sent), timeout=WAIT)
    log_in(driver, stack, "kcc-medewerker-5", "kcc", ["kcc"])
    driver.get(f"{stack.console}zaak.html?id={where['case_id']}")
    live(driver)
    text_in(driver, "#eigenaar", "Klantcontactcentrum")
    team = wait(driver, ec.visibility_of_element_located((By.ID, "naar-team")), "handover")
    team.send_keys("Evenementen")  # typing into a focused list picks the option
    assert team.get_attribute("value") == "evenementen"
    press(driver, Keys.TAB)
    assert active_id(driver) == "reden"
    press(driver, "De brief ging over een vergunning voor een buurtfeest: evenementen.")
    for _ in range(5):
        if active_id(driver) == "overdragen-knop":
            break
        press(driver, Keys.TAB)
    assert active_id(driver) == "overdragen-knop"
    press(driver, Keys.ENTER)
    text_in(driver, "#overdracht-status", "Overgedragen aan Evenementen")
    text_in(driver, "#eigenaar", "Evenementen")
    assert_accessible(driver, "case, handed over by keyboard")
    assert console_errors(driver) == []
