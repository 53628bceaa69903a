"""What the console's browser test needs: the three services as processes on fresh
databases, an ingest key that may assert logins (eHerkenning), and headless Chromium.

Chromium comes from Debian (`chromium`, `chromium-driver`); no browser is downloaded.
Without them the test fails with the packages to install, it never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from stdnum.nl import bsn as bsn_number

from services.caseview.auth import mint_token
from services.ingest.auth import hash_key
from shared.devstack import run_services

CHROMIUM = Path(os.environ.get("EENLOKET_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("EENLOKET_CHROMEDRIVER", "/usr/bin/chromedriver"))
APT_PACKAGES = "chromium chromium-driver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=nl-NL",
    "--window-size=1280,1000",
    "--force-device-scale-factor=1",
)


T = TypeVar("T")


def poll(probe: Callable[[], T | None], *, timeout: float, interval: float = 0.2) -> T:
    """tests.support.eventually for synchronous probes (Selenium tests are synchronous)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def a_bsn() -> str:
    """A random BSN that passes the 11-proef (a resident of this test only)."""
    while True:
        value = f"{random.randint(100_000_000, 999_999_999)}"
        if bsn_number.is_valid(value):
            return value


def chromium_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return (
                f"{path} not found: install the Debian packages '{APT_PACKAGES}' "
                "(deploy/local/system-deps.sh), or point EENLOKET_CHROMIUM / "
                "EENLOKET_CHROMEDRIVER at them"
            )
    return None


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, driven through the system chromedriver."""
    profile = Path(tempfile.mkdtemp(prefix="eenloket-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=ChromeService(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


async def _admin(dsn: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Stack:
    ingest: str
    caseview: str
    portal_key: str  # the portal's integration key: web channel, may assert logins
    router_pid: int = 0  # to pause the router (SIGSTOP) so that two commands meet in its queue

    @property
    def console(self) -> str:
        return f"{self.caseview}/console/"

    def submit(self, client: httpx.Client, form: dict[str, Any]) -> str:
        """Post a web form as the portal; the message id once the broker has it."""
        r = client.post(
            f"{self.ingest}/v1/channels/web", json=form, headers={"X-Api-Key": self.portal_key}
        )
        assert r.status_code == 202, r.text
        message_id: str = r.json()["message_id"]
        return message_id

    def located(self, client: httpx.Client, message_id: str) -> dict[str, Any] | None:
        """Where caseview has the message (party, case), or None until projected."""
        token = mint_token("console-test", teams=["kcc"], roles=["kcc"])
        r = client.get(
            f"{self.caseview}/v1/contacts/{message_id}",
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "test setup"},
        )
        found: dict[str, Any] | None = r.json() if r.status_code == 200 else None
        return found


def keycloak_env(issuer: str, client_id: str) -> dict[str, str]:
    """Caseview trusting a Keycloak realm (keys through discovery), the console logging in
    there with ``client_id``: a ``console_stack(caseview_env=...)``."""
    return {
        "EENLOKET_OIDC_ISSUER": issuer,
        "EENLOKET_OIDC_DISCOVERY": "true",
        "EENLOKET_CONSOLE_OIDC_ISSUER": issuer,
        "EENLOKET_CONSOLE_OIDC_CLIENT_ID": client_id,
    }


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Errors the pages logged (script errors, failed requests) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@contextlib.asynccontextmanager
async def console_stack(
    kafka_bootstrap: str,
    pg_dsn: str,
    log_dir: Path,
    *,
    caseview_env: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """The three services as processes, each on its own fresh database and random topics
    (so the queue and the screenshots show this test's cases only); dropped afterwards.
    ``caseview_env`` adds to caseview's environment (e.g. the issuer it trusts, a login)."""
    suffix = uuid.uuid4().hex[:8]
    databases = {
        name: f"eenloket_console_{suffix}_{name}" for name in ("ingest", "router", "caseview")
    }
    await _admin(pg_dsn, [f'CREATE DATABASE "{db}"' for db in databases.values()])
    portal_key = secrets.token_urlsafe(32)
    common = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EENLOKET_TOPIC_INBOUND": f"console.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"console.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"console.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"console.deadletter.{suffix}",
        "EENLOKET_TOPIC_PARTITIONS": "3",
    }
    base = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    env = {
        name: {
            **common,
            "EENLOKET_DATABASE_URL": f"{base}/{db}",
            "EENLOKET_CONSUMER_GROUP": f"console-{name}-{suffix}",
        }
        for name, db in databases.items()
    }
    env["ingest"]["EENLOKET_API_KEYS"] = json.dumps(
        {
            "portal": {
                "sha256": hash_key(portal_key),
                "channels": ["web", "app", "letter"],
                "may_assert_login": True,
            }
        }
    )
    env["ingest"]["EENLOKET_ATTACHMENT_DIR"] = str(log_dir / "attachments")
    env["caseview"]["EENLOKET_ATTACHMENT_DIR"] = str(log_dir / "attachments")  # its case route
    env["caseview"].update(caseview_env or {})
    try:
        with run_services(env, log_dir) as services:
            yield Stack(
                services["ingest"].url,
                services["caseview"].url,
                portal_key,
                services["router"].process.pid,
            )
    finally:
        drop = [f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in databases.values()]
        await _admin(pg_dsn, drop)
