"""The resident pages' login configuration (``/mijn-zaken/config.json``), their headers, and
that every page is served with the vendored NL Design System CSS and no inline script."""

from __future__ import annotations

import re

from services.caseview.config import CaseviewSettings
from services.caseview.mijn_zaken import STATIC
from tests.unit.test_console_login_config import fetch, trusting

PAGES = ["aanmelden.html", "index.html", "zaak.html", "inzage.html", "voorkeuren.html"]


async def test_the_pages_log_in_at_the_consoles_issuer_with_the_portal_client() -> None:
    issuer = "https://login.gemeente.example/realms/eenloket"
    settings = trusting(issuer, console_oidc_issuer=issuer, console_oidc_client_id="console")
    config = (await fetch(settings, "/mijn-zaken/config.json")).json()
    assert config == {"issuer": issuer, "client_id": "mijn-zaken"}
    page = await fetch(settings, "/mijn-zaken/aanmelden.html")
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self' https://login.gemeente.example;" in csp
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_a_resident_issuer_of_its_own_and_none_at_all() -> None:
    own = "https://digid-broker.example/realms/inwoners"
    settings = CaseviewSettings(
        environment="test", resident_oidc_issuer=own, resident_oidc_client_id="portaal"
    )
    config = (await fetch(settings, "/mijn-zaken/config.json")).json()
    assert config == {"issuer": own, "client_id": "portaal"}
    nowhere = (await fetch(CaseviewSettings(environment="test"), "/mijn-zaken/config.json")).json()
    assert nowhere == {"issuer": "", "client_id": ""}  # the page says "Inloggen lukt nu niet"


async def test_every_page_is_dutch_styled_from_the_vendor_folder_and_scripted_from_files() -> None:
    settings = CaseviewSettings(environment="test")
    for name in PAGES:
        page = await fetch(settings, f"/mijn-zaken/{name}")
        assert page.status_code == 200, name
        assert '<html lang="nl"' in page.text
        assert 'href="vendor/utrecht-component-library.css"' in page.text
        assert 'href="vendor/voorbeeld-theme.css"' in page.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), f"inline script in {name}"
    for css in ("utrecht-component-library.css", "voorbeeld-theme.css"):
        served = await fetch(settings, f"/mijn-zaken/vendor/{css}")
        assert served.content == (STATIC / "vendor" / css).read_bytes()
    # The console's OIDC and stream modules are served once, for both page sets.
    assert (await fetch(settings, "/console/js/oidc.js")).status_code == 200
