"""What an adopting municipality checks first (issue #24): the licence, publiccode.yml, the
security contact of every service, and one version everywhere it is shown."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from typer.testing import CliRunner

from ops.cli import app as eenloket
from services.caseview.bootstrap import create_app as caseview_app
from services.caseview.config import CaseviewSettings
from services.ingest.bootstrap import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.notifications.bootstrap import create_app as notifications_app
from services.notifications.config import NotificationsSettings
from services.outbound.bootstrap import create_app as outbound_app
from services.outbound.config import OutboundSettings
from services.router.bootstrap import create_app as router_app
from services.router.config import RouterSettings
from shared.security_txt import SecurityTxtSettings
from shared.version import version
from tests.support import built_tool
from tests.unit.deploy_files import DOCKERFILE, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

SERVICES: dict[str, Callable[[], FastAPI]] = {
    "ingest": lambda: ingest_app(IngestSettings(environment="test")),
    "router": lambda: router_app(RouterSettings(environment="test")),
    "caseview": lambda: caseview_app(CaseviewSettings(environment="test")),
    "outbound": lambda: outbound_app(OutboundSettings(environment="test")),
    "notifications": lambda: notifications_app(NotificationsSettings(environment="test")),
}


async def get(app: FastAPI, path: str) -> httpx.Response:
    # No lifespan: the probes and security.txt need nothing the lifespan starts.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://eenloket.test") as http:
        return await http.get(path)


# --- one version -------------------------------------------------------------------------


def test_the_version_is_pyprojects_and_semantic():
    assert version() == PYPROJECT["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version())


def test_eenloket_reports_the_version():
    result = CliRunner().invoke(eenloket, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"eenloket {PYPROJECT['version']}"


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_healthz_and_openapi_carry_the_version(service: str):
    app = SERVICES[service]()
    assert app.openapi()["info"]["version"] == PYPROJECT["version"]
    response = await get(app, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": PYPROJECT["version"]}


def test_the_image_labels_are_fed_from_the_one_version():
    text = DOCKERFILE.read_text()
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', text))
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["license"]
    assert labels["org.opencontainers.image.source"] == PYPROJECT["urls"]["Source"]
    assert labels["org.opencontainers.image.title"] == "Eenloket"
    # Each stage that uses VERSION declares it, and the build refuses a VERSION other than the
    # installed project's.
    stages = text.split("\nFROM ")[1:]
    assert all("ARG VERSION" in stage for stage in stages)
    assert '[ "$installed" = "$VERSION" ] || [ "$VERSION" = dev ]' in text
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    assert compose["x-service"]["build"]["args"] == {"VERSION": "dev"}
    # The Makefile fills it from pyproject.toml.
    dry = subprocess.run(
        ["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert f"--build-arg VERSION={PYPROJECT['version']} " in dry.stdout


# --- security.txt ------------------------------------------------------------------------


def fields(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        found.setdefault(name, []).append(value)
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_service_serves_security_txt_with_the_configured_contact(
    service: str, monkeypatch: pytest.MonkeyPatch
):
    contact = "mailto:cvd@gemeente-voorbeeld.test, https://gemeente-voorbeeld.test/cvd"
    monkeypatch.setenv("EENLOKET_SECURITY_CONTACT", contact)
    response = await get(SERVICES[service](), "/.well-known/security.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = fields(response.text)
    assert found["Contact"] == [
        "mailto:cvd@gemeente-voorbeeld.test",
        "https://gemeente-voorbeeld.test/cvd",
    ]
    assert found["Preferred-Languages"] == ["nl, en"]
    assert found["Canonical"] == ["https://eenloket.test/.well-known/security.txt"]
    assert found["Policy"][0].startswith("https://")
    expires = datetime.strptime(found["Expires"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert datetime.now(UTC) < expires < datetime.now(UTC) + timedelta(days=366)
    assert set(found) == {"Contact", "Expires", "Preferred-Languages", "Policy", "Canonical"}


def test_a_configured_expiry_is_served(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EENLOKET_SECURITY_EXPIRES", "2027-06-01T00:00:00+02:00")
    url = "https://x.test/.well-known/security.txt"
    text = SecurityTxtSettings().render(url, datetime.now(UTC))
    assert "Expires: 2027-05-31T22:00:00Z" in text.splitlines()


def test_a_contact_must_be_a_uri(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EENLOKET_SECURITY_CONTACT", "security at gemeente")
    with pytest.raises(ValueError, match="mailto:"):
        SecurityTxtSettings()


def test_security_txt_is_no_part_of_the_v1_api():
    assert "/.well-known/security.txt" not in SERVICES["ingest"]().openapi()["paths"]


# --- licence, publiccode.yml -------------------------------------------------------------


def test_the_licence_is_the_complete_eupl_1_2():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2\n")
    articles = re.findall(r"^(\d+)\.\s*[A-Z]", text, flags=re.MULTILINE)
    assert articles == [str(n) for n in range(1, 16)]
    assert "\u2018Compatible Licences\u2019 according to Article 5 EUPL are:" in text
    assert text.rstrip().endswith("require the production of a new EUPL version.")
    assert PYPROJECT["license"] == "EUPL-1.2"
    assert PYPROJECT["license-files"] == ["LICENSE"]


def test_third_party_material_is_listed_with_origin_and_licence():
    sources = (ROOT / "docs" / "sources.md").read_text()
    for material, licence in [
        ("upl-gemeente.csv", "CC0"),
        ("axe-core", "MPL-2.0"),
        ("@utrecht/component-library-css", "EUPL-1.2"),
        ("Klantinteracties", "EUPL-1.2"),
        ("LICENSE", "EUPL-1.2"),
    ]:
        line = next((row for row in sources.splitlines() if material in row), "")
        assert licence in line, f"docs/sources.md: {material} with its licence {licence}"


def validate(folder: Path) -> subprocess.CompletedProcess[str]:
    """The standard's maintained validator (deploy/local/go-tools.sh) on folder/publiccode.yml."""
    parser = built_tool("go-tools.sh", "path", "publiccode-parser")
    return subprocess.run(
        [parser, "-no-network", "publiccode.yml"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_publiccode_yml_is_valid():
    result = validate(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout + result.stderr


def test_the_validator_refuses_an_invalid_file(tmp_path: Path):
    """The check can fail: without a licence the file is refused."""
    data = yaml.safe_load((ROOT / "publiccode.yml").read_text())
    del data["legal"]["license"]
    (tmp_path / "publiccode.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    result = validate(tmp_path)
    assert result.returncode != 0
    assert "legal.license" in result.stdout + result.stderr


def test_publiccode_yml_states_this_release():
    data = yaml.safe_load((ROOT / "publiccode.yml").read_text())
    assert data["softwareVersion"] == PYPROJECT["version"]
    assert data["url"] == PYPROJECT["urls"]["Source"]
    assert data["legal"]["license"] == PYPROJECT["license"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{data['softwareVersion']}] - {data['releaseDate']}" in changelog
    depends = {d["name"] for d in data["dependsOn"]["open"]}
    assert {"Apache Kafka", "PostgreSQL", "Keycloak", "Mailpit"} <= depends
    assert set(data["description"]) == {"nl", "en"}
