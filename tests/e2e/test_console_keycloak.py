"""The console logging in through a real Keycloak (deploy/local/keycloak.sh, the eenloket
realm), in headless Chromium through Keycloak's own login form: the authorization code flow
with PKCE, the staff member's name and teams from the token, a case handed over, the access
token refreshed silently, RP-initiated logout (a new login asks for the password again), and
the Dutch messages for an ended session and an unreachable login service.

The console's client is a copy of the realm's `console` client with a 20-second access
token, so the silent refresh happens within the test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.accessibility import assert_accessible
from tests.e2e.console_support import (
    Stack,
    console_errors,
    console_stack,
    keycloak_env,
    poll,
)
from tests.e2e.test_console import browser
from tests.infra import KeycloakAddress
from tests.keycloak import Keycloak, claims

__all__ = ["browser"]  # the fixture, shared with test_console.py

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]

WAIT = 60  # seconds: the pipeline is three processes and a broker
USER = "kcc-medewerker"  # deploy/keycloak/eenloket-realm.json: group kcc, role kcc
LIFESPAN = 20  # seconds: the test client's access tokens (the realm's default is 300)
TOKEN = "eenloket.console.token"  # session.js


@pytest.fixture(scope="module")
async def kc(keycloak: KeycloakAddress) -> AsyncIterator[Keycloak]:
    client = Keycloak(keycloak)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def console_client(kc: Keycloak) -> AsyncIterator[str]:
    client_id = await kc.copy_client("console", **{"access.token.lifespan": str(LIFESPAN)})
    yield client_id
    await kc.delete_client(client_id)


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, pg_dsn: str, tmp_path_factory: Any, kc: Keycloak, console_client: str
) -> AsyncIterator[Stack]:
    async with console_stack(
        kafka_bootstrap,
        pg_dsn,
        tmp_path_factory.mktemp("console-keycloak"),
        caseview_env=keycloak_env(kc.issuer, console_client),
    ) as s:
        yield s


def wait(driver: WebDriver, condition: Any, what: str, timeout: float = WAIT) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException as exc:
        raise AssertionError(f"not within {timeout}s: {what}") from exc


def text_in(driver: WebDriver, selector: str, text: str, timeout: float = WAIT) -> Any:
    return wait(
        driver,
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text),
        f"{text!r} in {selector}",
        timeout,
    )


def stored_token(driver: WebDriver) -> str | None:
    token: str | None = driver.execute_script(f"return sessionStorage.getItem('{TOKEN}')")
    return token


def keycloak_form(driver: WebDriver) -> WebElement:
    """From the console's login page to Keycloak's login form (its password field)."""
    button = wait(driver, ec.element_to_be_clickable((By.ID, "inloggen-knop")), "Inloggen")
    button.click()
    field: WebElement = wait(
        driver, ec.visibility_of_element_located((By.ID, "password")), "Keycloak's login form"
    )
    return field


def sign_in_at_keycloak(driver: WebDriver, password: WebElement) -> None:
    assert driver.current_url.startswith(("http://127.0.0.1", "http://localhost"))
    assert "/realms/eenloket/" in driver.current_url  # Keycloak's own page, not the console's
    driver.find_element(By.ID, "username").send_keys(USER)
    password.send_keys(f"dev-{USER}")
    password.send_keys(Keys.ENTER)
    text_in(driver, "#gebruiker", f"Aangemeld als {USER}")


async def test_staff_log_in_through_keycloak_work_a_case_refresh_and_log_out(
    stack: Stack, kc: Keycloak, browser: webdriver.Chrome
) -> None:
    driver = browser
    kvk = f"{random.randint(10_000_000, 99_999_999)}"
    organiser = "Stichting Zomerfestival Reeshof"
    reader = {
        "Authorization": f"Bearer {await kc.user_token(USER)}",
        "X-Purpose": "test setup",
    }
    with httpx.Client(timeout=10) as http:
        message_id = stack.submit(
            http,
            {
                "authentication": "eherkenning",
                "kvk": kvk,
                "name": organiser,
                # No product named: the contact centre owns the case.
                "subject": f"Plannen voor de zomer ({uuid.uuid4().hex[:6]})",
                "text": "Wij willen in augustus met de buurt iets organiseren in het park, "
                "met een podium en livemuziek. Wat moeten wij hiervoor regelen?",
            },
        )

        def located() -> dict[str, Any] | None:
            r = http.get(f"{stack.caseview}/v1/contacts/{message_id}", headers=reader)
            found: dict[str, Any] | None = r.json() if r.status_code == 200 else None
            return found

        poll(located, timeout=WAIT)

    # 1. The login page offers Keycloak; caseview trusts the realm, so no dev login.
    driver.get(f"{stack.console}aanmelden.html")
    wait(driver, ec.visibility_of_element_located((By.ID, "inloggen")), "the Inloggen panel")
    assert not driver.find_element(By.ID, "ontwikkel").is_displayed()
    assert_accessible(driver, "aanmelden via Keycloak")

    # 2. Keycloak's own login form; back in the console as the realm's user, teams and role
    # from the token.
    sign_in_at_keycloak(driver, keycloak_form(driver))
    wait(driver, ec.title_contains("Zoeken"), "the search page after the login")
    text_in(driver, "#gebruiker", "Klantcontactcentrum")
    assert "code=" not in driver.current_url and "state=" not in driver.current_url
    first = stored_token(driver)
    assert first is not None
    assert claims(first)["preferred_username"] == USER
    assert claims(first)["azp"].startswith("test-console-")
    assert_accessible(driver, "zoeken, terug van Keycloak")

    # 3. Work the case: find the organiser, open the case, hand it over to Evenementen.
    Select(driver.find_element(By.ID, "zoek-op")).select_by_value("kvk")
    driver.find_element(By.ID, "zoekterm").send_keys(kvk)
    driver.find_element(By.ID, "doel-invoer").send_keys("Telefonische vraag")
    driver.find_element(By.ID, "doel-invoer").send_keys(Keys.ENTER)
    text_in(driver, "#resultaten-lijst", organiser)
    driver.find_element(By.LINK_TEXT, organiser).click()
    wait(driver, ec.title_contains(organiser), "the party page")
    number = wait(
        driver, ec.visibility_of_element_located((By.CSS_SELECTOR, "#zaken a")), "a case"
    ).text
    driver.find_element(By.LINK_TEXT, number).click()
    wait(driver, ec.title_contains(number), "the case page")
    text_in(driver, "#eigenaar", "Klantcontactcentrum")

    # 4. Silent refresh: a new access token before the old one expires, the page unchanged.
    driver.execute_script("window.__sameDocument = true")

    def new_token() -> str | None:
        token = stored_token(driver)
        return token if token != first else None

    refreshed = poll(new_token, timeout=LIFESPAN * 2)
    assert claims(refreshed)["exp"] > claims(first)["exp"]
    assert claims(refreshed)["sid"] == claims(first)["sid"]  # the same Keycloak session
    assert driver.execute_script("return window.__sameDocument === true"), "page reloaded"

    # ... and the refreshed token works: the handover goes through with it.
    Select(driver.find_element(By.ID, "naar-team")).select_by_value("evenementen")
    driver.find_element(By.ID, "reden").send_keys("Evenementenvergunning nodig voor het podium")
    driver.find_element(By.ID, "overdragen-knop").click()
    text_in(driver, "#overdracht-status", "Overgedragen aan Evenementen")
    text_in(driver, "#eigenaar", "Evenementen")
    assert console_errors(driver) == []

    # 5. Logout ends the Keycloak session: back on the login page, and a new login asks for
    # the password again (no single sign-on left over).
    driver.find_element(By.XPATH, "//button[normalize-space()='Afmelden']").click()
    text_in(driver, "#melding", "U bent afgemeld")
    assert stored_token(driver) is None
    assert_accessible(driver, "aanmelden na afmelden")
    sign_in_at_keycloak(driver, keycloak_form(driver))
    assert console_errors(driver) == []

    # 6. The session ends at Keycloak (an administrator, an idle timeout): the next silent
    # refresh is refused and the console says so in Dutch.
    await kc.end_sessions(USER)
    text_in(driver, "#melding", "Uw sessie is verlopen. Meld u opnieuw aan.", LIFESPAN * 2)
    assert "aanmelden.html" in driver.current_url
    assert stored_token(driver) is None
    assert_accessible(driver, "aanmelden, sessie verlopen")
    # The refused refresh is the one failed request the browser logged.
    refused = console_errors(driver)
    assert refused and all("openid-connect/token" in e and "400" in e for e in refused), refused

    # 7. Keycloak cannot be reached: the login page says so instead of a broken button.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [f"{kc.issuer}/*"]})
    driver.get(f"{stack.console}aanmelden.html")
    text_in(driver, "#melding", "De inlogdienst is niet bereikbaar")
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    blocked = console_errors(driver)
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in blocked), blocked
    assert console_errors(driver) == []
