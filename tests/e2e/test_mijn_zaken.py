"""Mijn zaken in headless Chromium against a real Keycloak (the eenloket realm): a resident of
the realm's DigiD stand-in asks a question through the website (logged in: the *authenticated*
rung); a staff member, logged in through Keycloak's own form, works the case. The resident logs
in through the `mijn-zaken` client on Keycloak's login page, sees the case, sees the status
change and the reply appear while the page is open, sees which team looked, sets preferences,
and logs out (the Keycloak session ends). Every page: axe-core WCAG 2.2 AA, reflow at 320 px.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from tests.e2e.accessibility import assert_accessible
from tests.e2e.console_support import Stack, console_errors, console_stack, keycloak_env, poll
from tests.e2e.test_console import browser
from tests.e2e.test_console_keycloak import kc, text_in, wait
from tests.e2e.test_console_queue import _reflows
from tests.keycloak import Keycloak

__all__ = ["browser", "kc"]  # the fixtures, shared with the console tests

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]

WAIT = 60
RESIDENT, BSN = "inwoner-jansen", "999993653"  # deploy/keycloak/eenloket-realm.json
STAFF = "kcc-medewerker"  # group kcc: the contact centre owns a question without a product
PAGES = ["index.html", "inzage.html", "voorkeuren.html"]


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, pg_dsn: str, tmp_path_factory: Any, kc: Keycloak
) -> AsyncIterator[Stack]:
    async with console_stack(
        kafka_bootstrap,
        pg_dsn,
        tmp_path_factory.mktemp("mijn-zaken"),
        caseview_env=keycloak_env(kc.issuer, "console"),
    ) as s:
        yield s


def portal(stack: Stack) -> str:
    return f"{stack.caseview}/mijn-zaken/"


def log_in_as_resident(driver: WebDriver) -> None:
    """From the login page through Keycloak's own form (the `mijn-zaken` client)."""
    wait(driver, ec.element_to_be_clickable((By.ID, "inloggen")), "Inloggen").click()
    password = wait(
        driver, ec.visibility_of_element_located((By.ID, "password")), "Keycloak's login form"
    )
    assert "/realms/eenloket/" in driver.current_url and "client_id=mijn-zaken" in (
        driver.current_url
    )
    driver.find_element(By.ID, "username").send_keys(RESIDENT)
    password.send_keys(f"dev-{RESIDENT}")
    password.send_keys(Keys.ENTER)


def at_320(driver: WebDriver) -> None:
    driver.set_window_size(320, 900)
    width = driver.execute_script("return window.innerWidth")
    if width != 320:  # the window's frame: widen until the page itself is 320 px
        driver.set_window_size(320 + (320 - width), 900)
    assert driver.execute_script("return window.innerWidth") == 320


async def test_a_resident_follows_their_case_live_sees_who_looked_and_logs_out(
    stack: Stack, kc: Keycloak, browser: webdriver.Chrome
) -> None:
    driver = browser
    subject = f"Een vraag ({uuid.uuid4().hex[:6]})"
    reply_text = "Wij kijken uw vraag na. U hoort binnen een week van ons."
    login = await kc.login_with_pkce("console", STAFF, f"{stack.caseview}/console/aanmelden.html")
    assert login.status_code == 200, login.text
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
    with httpx.Client(timeout=10) as http:  # the form and the lookup, as the console tests do
        message_id = stack.submit(
            http,
            {
                "authentication": "digid",
                "bsn": BSN,
                "name": "Jan Jansen",
                "email": f"jan-{uuid.uuid4().hex[:6]}@example.org",
                "subject": subject,
                "text": "Ik heb een vraag over de brief die ik van u kreeg. Wat moet ik nu doen?",
            },
        )
        reader = {**staff, "X-Purpose": "test setup"}

        def located() -> dict[str, Any] | None:
            r = http.get(f"{stack.caseview}/v1/contacts/{message_id}", headers=reader)
            found: dict[str, Any] | None = r.json() if r.status_code == 200 else None
            return found

        case_id = poll(located, timeout=WAIT)["case_id"]

    async with httpx.AsyncClient(base_url=stack.caseview, headers=staff, timeout=10) as cv:
        # 1. Not logged in: the login page; through Keycloak to "Mijn zaken".
        driver.get(portal(stack))
        wait(driver, ec.title_contains("Inloggen"), "the login page")
        assert_accessible(driver, "inloggen")
        log_in_as_resident(driver)
        wait(driver, ec.url_contains("index.html"), "Mijn zaken after the login")
        assert "code=" not in driver.current_url
        text_in(driver, "#zaken", "Ontvangen")
        text_in(driver, "#zaken", "Klantcontactcentrum")
        assert_accessible(driver, "mijn zaken")

        # 2. The case, open while staff work it: the status and the reply arrive live.
        driver.find_element(By.CSS_SELECTOR, f"#zaken a[href='zaak.html?id={case_id}']").click()
        text_in(driver, "#live-status", "Wijzigingen ziet u hier meteen")
        text_in(driver, "#status", "Ontvangen")
        text_in(driver, "#berichten", "Ik heb een vraag over de brief")
        assert_accessible(driver, "zaak")
        driver.execute_script("window.__sameDocument = true")
        changed = await cv.post(
            f"/v1/cases/{case_id}/status",
            json={"status": "in behandeling"},
        )
        assert changed.status_code == 202, changed.text
        text_in(driver, "#status", "In behandeling")
        text_in(driver, "#live-melding", "De status is nu: In behandeling")
        replied = await cv.post(
            f"/v1/cases/{case_id}/replies",
            json={"channel": "email", "text": reply_text, "confirm_claimed": True},
        )
        assert replied.status_code == 202, replied.text
        text_in(driver, "#berichten", reply_text)
        text_in(driver, "#berichten", "De gemeente schreef via e-mail")
        assert driver.execute_script("return window.__sameDocument === true"), "page reloaded"
        assert_accessible(driver, "zaak, bijgewerkt")

        # 3. Who looked: the staff member's team with the stated purpose, and "U zelf".
        read = await cv.get(f"/v1/cases/{case_id}", headers={"X-Purpose": "Terugbelverzoek"})
        assert read.status_code == 200
    driver.find_element(By.LINK_TEXT, "Wie keek er in mijn dossier").click()
    text_in(driver, "#inzage", "Terugbelverzoek")
    text_in(driver, "#inzage", "Klantcontactcentrum")
    text_in(driver, "#inzage", "U zelf")
    assert STAFF not in driver.find_element(By.ID, "inzage").text  # a team, never a person
    assert_accessible(driver, "wie keek er")

    # 4. Preferences: a contradiction is refused at the control, then saved.
    driver.find_element(By.LINK_TEXT, "Mijn voorkeuren").click()
    wait(driver, ec.presence_of_element_located((By.ID, "uit-email")), "the opt-outs")
    assert_accessible(driver, "voorkeuren")
    Select(driver.find_element(By.ID, "voorkeurskanaal")).select_by_value("email")
    driver.find_element(By.ID, "uit-email").click()
    driver.find_element(By.XPATH, "//button[normalize-space()='Opslaan']").click()
    text_in(driver, "#voorkeur-fout", "kan niet ook uitgezet zijn")
    field = driver.find_element(By.ID, "voorkeurskanaal")
    assert field.get_attribute("aria-invalid") == "true"
    assert driver.switch_to.active_element == field
    assert_accessible(driver, "voorkeuren, geweigerd")
    refused = console_errors(driver)  # the refusal is the one failed request so far
    assert len(refused) == 1 and "contact-preferences" in refused[0] and "422" in refused[0]
    driver.find_element(By.ID, "uit-email").click()
    driver.find_element(By.ID, "uit-sms").click()
    driver.find_element(By.XPATH, "//button[normalize-space()='Opslaan']").click()
    text_in(driver, "#opgeslagen", "Uw keuzes zijn opgeslagen")
    assert not driver.find_element(By.ID, "voorkeur-fout").is_displayed()
    assert_accessible(driver, "voorkeuren, opgeslagen")

    # 5. Reflow: no page scrolls sideways at 320 CSS px.
    at_320(driver)
    for page in [*PAGES, f"zaak.html?id={case_id}"]:
        driver.get(f"{portal(stack)}{page}")
        wait(
            driver,
            ec.presence_of_element_located(
                (By.CSS_SELECTOR, "main table, main form, #berichten article")
            ),
            page,
        )
        _reflows(driver, page)
    driver.set_window_size(1280, 1000)
    assert console_errors(driver) == []

    # 6. Logout ends the Keycloak session: a new login asks for the password again.
    driver.find_element(By.ID, "afmelden").click()
    text_in(driver, "#melding", "U bent uitgelogd")
    assert_accessible(driver, "uitgelogd")
    _reflows(driver, "uitgelogd")  # the login page at full width, then narrow below
    log_in_as_resident(driver)
    wait(driver, ec.url_contains("index.html"), "Mijn zaken after a new login")
    driver.find_element(By.ID, "afmelden").click()
    text_in(driver, "#melding", "U bent uitgelogd")
    at_320(driver)
    _reflows(driver, "uitgelogd, 320 px")
    driver.set_window_size(1280, 1000)

    # 7. A session that ran out, and Keycloak that cannot be reached: said in plain Dutch.
    driver.get(f"{portal(stack)}aanmelden.html?reden=verlopen")
    text_in(driver, "#melding", "Daarom bent u uitgelogd")
    assert_accessible(driver, "sessie verlopen")
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [f"{kc.issuer}/*"]})
    driver.get(f"{portal(stack)}aanmelden.html")
    wait(driver, ec.element_to_be_clickable((By.ID, "inloggen")), "Inloggen").click()
    text_in(driver, "#melding", "Inloggen lukt nu niet")
    assert_accessible(driver, "inloggen lukt nu niet")
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    blocked = console_errors(driver)
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in blocked), blocked
