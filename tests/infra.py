"""Where the tests' Kafka, PostgreSQL, Mailpit and Keycloak come from.

In this order: services named by environment
variables (what `make test` and CI set), then testcontainers when a Docker
engine answers a ping, then the project's own scripts under deploy/local/.
Mailpit and Keycloak have no container here: their environment variables, else
deploy/local/mailpit.sh and deploy/local/keycloak.sh. There is no silent skip: if none of them
works, the tests fail loudly.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("EENLOKET_LOCAL", ROOT / ".local"))


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_dsn: str  # postgresql://user@host:port, no database


@dataclass(frozen=True)
class MailpitAddress:
    smtp: str  # host:port
    http: str  # http://host:port (its web inbox and REST API; see tests/mailpit.py)

    @property
    def smtp_host(self) -> str:
        return self.smtp.rsplit(":", 1)[0]

    @property
    def smtp_port(self) -> int:
        return int(self.smtp.rsplit(":", 1)[1])


@dataclass(frozen=True)
class KeycloakAddress:
    url: str  # http://host:port, the realms under /realms/<name>
    admin_user: str  # the master realm's bootstrap admin (development credentials)
    admin_password: str


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _last_line_value(output: str, name: str) -> str:
    for line in reversed(output.strip().splitlines()):
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise RuntimeError(f"{name} not reported by the start script:\n{output}")


def _script(*args: str) -> str:
    result = subprocess.run(
        ["bash", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=900
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


@contextlib.contextmanager
def _local(name: str) -> Iterator[str]:
    """``deploy/local/<name>.sh start`` in .local/test/<name>; its output. Stops it afterwards
    only if this call started it (a developer's running one stays up)."""
    run_dir = LOCAL / "test" / name
    script = f"deploy/local/{name}.sh"
    status = ["bash", script, "status", "--dir", str(run_dir)]
    started = subprocess.run(status, cwd=ROOT, capture_output=True, check=False).returncode != 0
    out = _script(script, "start", "--dir", str(run_dir))
    try:
        yield out
    finally:
        if started:
            _script(script, "stop", "--dir", str(run_dir))


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    if bootstrap := os.environ.get("EENLOKET_TEST_KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with _local("kafka") as out:
        yield _last_line_value(out, "KAFKA_BOOTSTRAP")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    if dsn := os.environ.get("EENLOKET_TEST_PG_DSN"):
        yield dsn
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url().rsplit("/", 1)[0]
        return
    with _local("postgres") as out:
        yield _last_line_value(out, "PG_DSN")


@contextlib.contextmanager
def mailpit() -> Iterator[MailpitAddress]:
    smtp = os.environ.get("EENLOKET_TEST_MAILPIT_SMTP")
    http = os.environ.get("EENLOKET_TEST_MAILPIT_HTTP")
    if smtp and http:
        yield MailpitAddress(smtp=smtp, http=http)
        return
    with _local("mailpit") as out:
        yield MailpitAddress(
            smtp=_last_line_value(out, "MAILPIT_SMTP"), http=_last_line_value(out, "MAILPIT_HTTP")
        )


@contextlib.contextmanager
def keycloak() -> Iterator[KeycloakAddress]:
    """A Keycloak with the eenloket realm (deploy/keycloak/eenloket-realm.json) imported."""
    # The same variables (and defaults) keycloak.sh gives its bootstrap admin.
    admin = (
        os.environ.get("KEYCLOAK_ADMIN", "admin"),
        os.environ.get("KEYCLOAK_ADMIN_PASSWORD", "admin"),
    )
    if url := os.environ.get("EENLOKET_TEST_KEYCLOAK_URL"):
        yield KeycloakAddress(url, *admin)
        return
    with _local("keycloak") as out:
        yield KeycloakAddress(_last_line_value(out, "KEYCLOAK_URL"), *admin)
