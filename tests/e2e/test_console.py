"""The contact-centre console in headless Chromium, on data built through the real
pipeline: a Tilburg-style event organiser writes through the portal (eHerkenning), the
contact centre finds the organiser, opens the case and hands it over to Evenementen in
the console, and the pages update live (SSE) when the organiser writes again.

Set EENLOKET_CONSOLE_SCREENSHOTS=docs/img to (re)write the screenshots of docs/console.md.
"""

from __future__ import annotations

import base64
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.caseview.auth import TokenValidator, mint_token
from services.caseview.bootstrap import create_app
from services.caseview.config import CaseviewSettings
from services.caseview.console import devlogin
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

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

WAIT = 60  # seconds: the pipeline is three processes and a broker
SHOTS = os.environ.get("EENLOKET_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap, pg_dsn, tmp_path_factory):
    async with console_stack(kafka_bootstrap, pg_dsn, tmp_path_factory.mktemp("console")) as s:
        yield s


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    if why := chromium_missing():
        pytest.fail(f"the console test needs Chromium: {why}", pytrace=False)
    with chromium() as driver:
        try:
            yield driver
        finally:
            # Evidence for a failure: what the browser showed last.
            driver.save_screenshot(str(tmp_path / "last.png"))
            (tmp_path / "last.html").write_text(driver.page_source)


def shoot(driver: WebDriver, name: str) -> None:
    """A full-page screenshot for the docs (only when asked for)."""
    if not SHOTS:
        return
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": 1280, "height": min(int(size["height"]), 2200), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(base64.b64decode(shot["data"]))


def wait(driver: WebDriver, condition: Any, what: str, timeout: float = WAIT) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException as exc:
        raise AssertionError(f"not within {timeout}s: {what}") from exc


def text_in(driver: WebDriver, selector: str, text: str) -> Any:
    return wait(
        driver,
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text),
        f"{text!r} in {selector}",
    )


def live(driver: WebDriver) -> None:
    wait(
        driver,
        ec.text_to_be_present_in_element_attribute(
            (By.CSS_SELECTOR, "#live-status"), "data-state", "open"
        ),
        "the live stream to connect",
    )


def log_in(
    driver: WebDriver, stack: Stack, user: str, role: str, teams: list[str], shot: str = ""
) -> None:
    driver.get(f"{stack.console}aanmelden.html")
    form = wait(
        driver, ec.visibility_of_element_located((By.ID, "ontwikkelformulier")), "dev login"
    )
    # Keyboard: the first Tab stop is the skip link, and it leads to the main content.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = driver.switch_to.active_element
    assert skip.get_attribute("class") == "skip-link", "first Tab stop: the skip link"
    skip.send_keys(Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "inhoud"
    name = form.find_element(By.ID, "gebruiker-id")
    name.clear()
    name.send_keys(user)
    Select(form.find_element(By.ID, "rol")).select_by_value(role)
    for box in form.find_elements(By.CSS_SELECTOR, "#teams input[type=checkbox]"):
        if box.is_selected() != (box.get_attribute("value") in teams):
            box.click()
    assert_accessible(driver, "aanmelden")
    if shot:
        shoot(driver, shot)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(driver, "#gebruiker", user)


def paste_token(driver: WebDriver, stack: Stack, token: str) -> None:
    driver.get(f"{stack.console}aanmelden.html")
    field = wait(driver, ec.visibility_of_element_located((By.ID, "token")), "token field")
    field.send_keys(token)
    driver.find_element(By.XPATH, "//button[normalize-space()='Aanmelden met token']").click()
    text_in(driver, "#gebruiker", "Aangemeld als")


def kvk_number() -> str:
    return f"{random.randint(10_000_000, 99_999_999)}"


def test_contact_centre_finds_hands_over_and_sees_live_updates(
    stack: Stack, browser: webdriver.Chrome
):
    driver = browser
    kvk = kvk_number()
    organiser = "Stichting Buurtfeest Piushaven"
    with httpx.Client(timeout=10) as http:
        # The organiser asks through the portal (eHerkenning). No product is recognised,
        # so the contact centre owns the new case.
        first = stack.submit(
            http,
            {
                "submission_id": f"console-{uuid.uuid4()}",
                "authentication": "eherkenning",
                "kvk": kvk,
                "name": organiser,
                "email": f"info-{kvk}@example.nl",
                "subject": "Plan voor 6 juni in de Piushaven",
                "text": "Wij willen op zaterdag 6 juni met de buurt een middag organiseren "
                "in de Piushaven, met een podium en livemuziek tot 22.00 uur. "
                "Wat moeten wij hiervoor regelen?",
            },
        )
        # Another organiser names the product: that case goes to Evenementen directly.
        other = stack.submit(
            http,
            {
                "authentication": "eherkenning",
                "kvk": kvk_number(),
                "name": "Ondernemersvereniging Korvelseweg",
                "subject": "Braderie Korvelseweg 12 september",
                "text": "Wij vragen een evenementenvergunning aan voor de jaarlijkse braderie.",
            },
        )
        where = poll(lambda: stack.located(http, first), timeout=WAIT)
        poll(lambda: stack.located(http, other), timeout=WAIT)

        # 1. Log in (development: the page mints a dev token) and search by KvK number.
        log_in(driver, stack, "kcc-medewerker-1", "kcc", ["kcc"], shot="console-login.png")
        wait(driver, ec.title_contains("Zoeken"), "the search page")
        Select(driver.find_element(By.ID, "zoek-op")).select_by_value("kvk")
        driver.find_element(By.ID, "zoekterm").send_keys(kvk)
        driver.find_element(By.ID, "doel-invoer").send_keys("Telefonische vraag")
        driver.find_element(By.ID, "doel-invoer").send_keys(Keys.ENTER)  # keyboard submit
        text_in(driver, "#resultaten-lijst", organiser)
        # Every hit says how the party holds what was searched for, and on what evidence.
        text_in(driver, "#resultaten-lijst", "Geauthenticeerd: eHerkenning-inlog")
        assert kvk not in driver.current_url  # the search is a POST
        shoot(driver, "console-search.png")
        assert_accessible(driver, "search")

        # 2. The party: identifiers, cases, the unified timeline.
        driver.find_element(By.LINK_TEXT, organiser).click()
        wait(driver, ec.title_contains(organiser), "the party page")
        live(driver)
        text_in(driver, "#tijdlijn", "Bericht via Web: Plan voor 6 juni in de Piushaven")
        text_in(driver, "#gegevens", kvk)
        # Which evidence gave each identifier its rung: the login, or only the sender's word.
        text_in(driver, "#gegevens", "eHerkenning-inlog")
        text_in(driver, "#gegevens", "alleen opgegeven door de afzender")
        number = driver.find_element(By.CSS_SELECTOR, "#zaken a").text
        assert number.startswith("ZAAK-")
        shoot(driver, "console-party.png")
        assert_accessible(driver, "party")

        # 3. The case: owner KCC, why, and the handover through the console.
        driver.find_element(By.LINK_TEXT, number).click()
        wait(driver, ec.title_contains(number), "the case page")
        live(driver)
        text_in(driver, "#eigenaar", "Klantcontactcentrum")
        text_in(driver, "#routering", "Geen product herkend")
        driver.execute_script("window.__sameDocument = true")
        Select(driver.find_element(By.ID, "naar-team")).select_by_value("evenementen")
        reason = "Evenementenvergunning nodig: podium en livemuziek in de openbare ruimte"
        driver.find_element(By.ID, "reden").send_keys(reason)
        driver.find_element(By.ID, "overdragen-knop").click()
        text_in(driver, "#overdracht-status", "Overgedragen aan Evenementen")
        text_in(driver, "#overdrachten", reason)
        text_in(driver, "#eigenaar", "Evenementen")
        text_in(driver, "#overdragen-uitleg", "Alleen Evenementen (de eigenaar)")

        # 4. Live: the organiser writes again; the case page shows it without a reload.
        stack.submit(
            http,
            {
                "authentication": "eherkenning",
                "kvk": kvk,
                "name": organiser,
                "case_number": number,
                "subject": "Aanvulling: situatietekening",
                "text": "Hierbij de situatietekening met de plek van het podium.",
            },
        )
        text_in(driver, "#geschiedenis .entry-fresh", "Aanvulling: situatietekening")
        text_in(driver, "#live-melding", "Aanvulling: situatietekening")
        text_in(driver, "#routering", "noemt het zaaknummer")  # the summary refreshed too
        text_in(driver, "#geschiedenis-aantal", "4 items")
        assert driver.execute_script("return window.__sameDocument === true"), "page reloaded"
        shoot(driver, "console-case.png")
        assert_accessible(driver, "case")

        # 5. The events team's queue, live, for a member of that team.
        driver.find_element(By.XPATH, "//button[normalize-space()='Afmelden']").click()
        # This time the way production works: paste a token from the issuer.
        paste_token(
            driver,
            stack,
            mint_token("medewerker-evenementen-1", teams=["evenementen"], roles=["member"]),
        )
        driver.find_element(By.ID, "menu-wachtrij").click()
        wait(driver, ec.title_contains("Wachtrij Evenementen"), "the queue page")
        live(driver)
        text_in(driver, "#wachtrij", number)
        text_in(driver, "#wachtrij", "evenementenvergunning")
        stack.submit(
            http,
            {
                "authentication": "eherkenning",
                "kvk": kvk,
                "name": organiser,
                "case_number": number,
                "subject": "Vraag over de eindtijd",
                "text": "Mag de muziek tot 23.00 uur doorgaan als wij de buren informeren?",
            },
        )
        text_in(driver, "#live-melding", number)
        text_in(driver, "#wachtrij tr.row-fresh", number)
        shoot(driver, "console-queue.png")
        assert_accessible(driver, "queue")
    assert where["party_id"]
    assert console_errors(driver) == []


def test_another_team_sees_a_confidential_case_redacted(stack: Stack, browser: webdriver.Chrome):
    """A resident (DigiD) asks about social assistance (bijstand: Werk en inkomen, a
    confidential team) and about a braderie (Evenementen). A member of Evenementen opening
    her dossier sees that the other contact happened, when and on which channel, not what
    it said."""
    driver = browser
    digid = {"authentication": "digid", "bsn": a_bsn(), "name": "Sanne de Boer"}
    secret = f"Ik heb mijn baan verloren en vraag bijstand aan ({uuid.uuid4().hex[:6]})"
    with httpx.Client(timeout=10) as http:
        social = stack.submit(
            http, {**digid, "subject": "Bijstandsuitkering aanvragen", "text": secret}
        )
        fair = stack.submit(
            http,
            {
                **digid,
                "subject": "Braderie in onze straat",
                "text": "Wij vragen een evenementenvergunning aan voor een braderie.",
            },
        )
        poll(lambda: stack.located(http, social), timeout=WAIT)
        party = poll(lambda: stack.located(http, fair), timeout=WAIT)["party_id"]
    log_in(driver, stack, "medewerker-evenementen-2", "member", ["evenementen"])
    driver.get(f"{stack.console}partij.html?id={party}")
    live(driver)
    text_in(driver, "#tijdlijn", "Braderie in onze straat")
    text_in(driver, "#tijdlijn", "Afgeschermd: vertrouwelijke zaak")
    text_in(driver, "#tijdlijn", "Alleen zichtbaar voor Werk en Inkomen en deelnemende teams")
    assert "Bijstandsuitkering" not in driver.page_source
    assert secret not in driver.page_source
    shoot(driver, "console-party-redacted.png")
    assert_accessible(driver, "party, a confidential case redacted")
    assert console_errors(driver) == []


# --- without a browser: what the console's server side promises ------------------------


def _other_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_dev_login_exists_only_where_dev_tokens_are_trusted():
    assert devlogin.allowed(CaseviewSettings(environment="test"))
    assert devlogin.allowed(CaseviewSettings(environment="development"))
    # Real issuer keys configured: a dev token would not be accepted, so none is minted.
    assert not devlogin.allowed(
        CaseviewSettings(environment="development", oidc_public_keys=[_other_key()])
    )
    production = CaseviewSettings(
        environment="production",
        oin="00000001001234567000",
        oidc_issuer="https://login.gemeente.example",
        oidc_public_keys=[_other_key()],
    )
    assert not devlogin.allowed(production)
    paths = {getattr(r, "path", "") for r in create_app(production).routes}
    assert "/console" in paths  # the pages themselves are there ...
    assert not {p for p in paths if p.startswith("/console/dev")}  # ... the minter is not


async def test_console_pages_are_served_with_a_strict_content_security_policy():
    settings = CaseviewSettings(environment="test")
    app = create_app(settings)
    app.state.settings = settings  # no lifespan needed for static pages and the dev login
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        page = await http.get("/console/")
        assert page.status_code == 200
        assert '<html lang="nl">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert (await http.get("/console/js/stream.js")).status_code == 200
        minted = await http.post(
            "/console/dev/token", json={"user": "u-1", "teams": ["kcc"], "roles": ["kcc"]}
        )
        assert minted.status_code == 200
        principal = await TokenValidator(settings).validate(minted.json()["token"])
        assert principal.user == "u-1"
        assert principal.teams == {"kcc"}
        refused = await http.post(
            "/console/dev/token", json={"user": "u-1", "teams": ["kcc"], "roles": ["root"]}
        )
        assert refused.status_code == 422
