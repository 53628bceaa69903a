"""Every container the deployment files start loads its environment into its own settings.

Compose and Kubernetes each start the services (and their migration jobs) from one image; a
file whose environment the settings class refuses, or that binds to loopback inside a
container, or that writes to the read-only root file system, fails here instead of at the
municipality's first ``up``. Secret values are the placeholders below (``SECRETS``): the keys
of the Secret ``eenloket-secrets`` that docs/operations.md tells the platform team to create.
"""

from __future__ import annotations

import json
import os
from pathlib import PurePosixPath

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from services.caseview.config import CaseviewSettings
from services.ingest.bootstrap import integrations
from services.ingest.config import IngestSettings
from services.notifications.config import NotificationsSettings
from services.outbound.config import OutboundSettings
from services.router.config import RouterSettings
from shared.settings import ServiceSettings
from tests.unit.deploy_files import (
    ROOT,
    SECRET_NAME,
    SERVICES,
    Container,
    compose_containers,
    k8s_containers,
    k8s_resources,
    optional_secrets_example,
    secrets_example,
)

# Placeholder values for the keys of the Secret "eenloket-secrets" (deploy/k8s/secrets.env.example),
# as a municipality would fill them in: production refuses the example file's own placeholders.
SECRETS = {
    "EENLOKET_OIN": "00000001234567890000",
    "EENLOKET_SENDER_KEY_SECRET": "a-long-random-secret-for-sender-keys",
    "EENLOKET_REPLY_TOKEN_KEY": "a-long-random-key-for-reply-tokens",
    "EENLOKET_API_KEYS": json.dumps(
        {"portal": {"sha256": "ab" * 32, "channels": ["web"], "may_assert_login": True}}
    ),
    "EENLOKET_OIDC_ISSUER": "https://login.gemeente.example.nl/realms/eenloket",
    "EENLOKET_OIDC_JWKS_URL": "https://login.gemeente.example.nl/realms/eenloket/certs",
    "INGEST_DATABASE_URL": "postgresql+asyncpg://ingest:pw@postgres-primary/ingest",
    "ROUTER_DATABASE_URL": "postgresql+asyncpg://router:pw@postgres-primary/router",
    "CASEVIEW_DATABASE_URL": "postgresql+asyncpg://caseview:pw@postgres-primary/caseview",
    "OUTBOUND_DATABASE_URL": "postgresql+asyncpg://outbound:pw@postgres-primary/outbound",
    "NOTIFICATIONS_DATABASE_URL": "postgresql+asyncpg://notifications:pw@postgres-primary/notifications",
}
# Keys the pods reference as ``optional: true``: a municipality sets those of the channels it
# uses. The containers below get them all; test_optional_secrets_may_be_absent none of them.
OPTIONAL_SECRETS = {
    "EENLOKET_RELAY_PASSWORD": "relay-password",
    "EENLOKET_MESSAGEBIRD_ACCESS_KEY": "live_a-messagebird-access-key",
    "EENLOKET_APP_WEBHOOK_SECRET": "a-long-random-secret-for-the-app-webhook",
    "EENLOKET_CHAT_WEBHOOK_SECRET": "a-long-random-secret-for-the-chat-webhook",
    "EENLOKET_NRC_CLIENT_ID": "eenloket-gemeente-voorbeeld",
    "EENLOKET_NRC_SECRET": "a-long-random-secret-for-the-notification-component",
}
# Settings that are secrets: on Kubernetes they come from the Secret, never a ConfigMap or a
# literal in a manifest.
SECRET_SETTINGS = {
    "EENLOKET_SENDER_KEY_SECRET",
    "EENLOKET_REPLY_TOKEN_KEY",
    "EENLOKET_API_KEYS",
    "EENLOKET_PORTAL_API_KEY",
    "EENLOKET_OIDC_ISSUER",
    "EENLOKET_OIDC_JWKS_URL",
    "EENLOKET_DATABASE_URL",
    "EENLOKET_ATTACHMENT_S3_SECRET_ACCESS_KEY",
    "EENLOKET_NRC_CLIENT_ID",
    "EENLOKET_NRC_SECRET",
    *OPTIONAL_SECRETS,
}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "router": RouterSettings,
    "caseview": CaseviewSettings,
    "outbound": OutboundSettings,
    "notifications": NotificationsSettings,
}
ALL_INTERFACES = {"0.0.0.0", "::"}  # a container answers on its pod address

CONTAINERS = {
    c.where: c for c in [*compose_containers(), *k8s_containers({**SECRETS, **OPTIONAL_SECRETS})]
}


def load(container: Container, monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    """The settings the container's process would build from exactly its environment."""
    for key in list(os.environ):
        if key.startswith("EENLOKET_"):
            monkeypatch.delenv(key)
    for key, value in container.env.items():
        monkeypatch.setenv(key, value)
    return SETTINGS[container.service]()


def database_url(settings: ServiceSettings) -> str:
    assert isinstance(
        settings,
        IngestSettings
        | RouterSettings
        | CaseviewSettings
        | OutboundSettings
        | NotificationsSettings,
    )
    return settings.database_url


def test_the_files_start_every_service_and_its_migration():
    assert tuple(SETTINGS) == SERVICES
    started = {(c.where.split()[0], *c.args) for c in CONTAINERS.values()}
    for where in ("compose", "k8s"):
        for service in SERVICES:
            assert (where, service, "serve") in started
            assert (where, service, "migrate") in started


@pytest.mark.parametrize("where", sorted(CONTAINERS))
def test_the_environment_loads_into_the_services_settings_in_the_mode_it_declares(
    where: str, monkeypatch: pytest.MonkeyPatch
):
    container = CONTAINERS[where]
    settings = load(container, monkeypatch)  # a ValidationError is a refusal to start
    assert settings.environment == container.env["EENLOKET_ENVIRONMENT"]
    if where.startswith("k8s"):
        assert settings.environment == "production"
        assert make_url(database_url(settings)).get_backend_name() == "postgresql"


@pytest.mark.parametrize("where", sorted(w for w, c in CONTAINERS.items() if c.args[1] == "serve"))
def test_a_served_port_is_bound_to_the_containers_address_not_loopback(
    where: str, monkeypatch: pytest.MonkeyPatch
):
    settings = load(CONTAINERS[where], monkeypatch)
    assert settings.http_host in ALL_INTERFACES
    if isinstance(settings, IngestSettings) and settings.smtp_port is not None:
        assert settings.smtp_host in ALL_INTERFACES, "the SMTP receiver would bind to loopback"


def _on_writable_mount(container: Container, path: str, *, writable: bool = True) -> bool:
    """``path`` lies on a volume (a writable one unless ``writable=False``)."""
    p = PurePosixPath(path)
    return any(
        (w or not writable) and (p == PurePosixPath(m) or PurePosixPath(m) in p.parents)
        for m, w in container.mounts.items()
    )


@pytest.mark.parametrize("where", sorted(CONTAINERS))
def test_the_root_file_system_is_read_only_and_what_is_written_goes_to_volumes(
    where: str, monkeypatch: pytest.MonkeyPatch
):
    container = CONTAINERS[where]
    settings = load(container, monkeypatch)
    assert container.read_only_root
    assert _on_writable_mount(container, "/tmp")
    database = make_url(database_url(settings))
    if database.get_backend_name() == "sqlite":
        assert database.database
        assert _on_writable_mount(container, database.database), "SQLite file on the root fs"
    serves = container.args[1] == "serve"  # only serve opens the attachment store
    if serves and isinstance(settings, IngestSettings) and settings.attachment_store == "local":
        folder = settings.attachment_dir
        assert folder.is_absolute(), f"attachment store {folder} is relative to the image's /app"
        assert _on_writable_mount(container, str(folder)), f"attachment store {folder}: no volume"
    if serves and isinstance(settings, OutboundSettings) and settings.attachment_store == "local":
        # Replies attach what residents sent: the outbound service reads ingest's store.
        folder = settings.attachment_dir
        assert _on_writable_mount(container, str(folder), writable=False), f"{folder}: no volume"
    if serves and isinstance(settings, OutboundSettings) and settings.letter_dir is not None:
        folder = settings.letter_dir
        assert folder.is_absolute(), f"letter folder {folder} is relative to the image's /app"
        assert _on_writable_mount(container, str(folder)), f"letter folder {folder}: no volume"


@pytest.mark.parametrize(
    "where", sorted(w for w, c in CONTAINERS.items() if c.args == ["ingest", "serve"])
)
def test_production_ingest_has_integrations_to_accept_messages_from(
    where: str, monkeypatch: pytest.MonkeyPatch
):
    settings = load(CONTAINERS[where], monkeypatch)
    assert isinstance(settings, IngestSettings)
    if settings.environment == "production":
        # Production refuses anonymous callers: without keys it would accept nothing.
        assert integrations(settings), "production ingest without EENLOKET_API_KEYS"


def test_kubernetes_secrets_come_from_the_documented_secret_only():
    for container in CONTAINERS.values():
        if container.where.startswith("k8s"):
            for variable in SECRET_SETTINGS & set(container.env):
                assert variable in container.secret_keys, f"{container.where}: {variable} literal"
    for resource in k8s_resources():
        assert resource["kind"] != "Secret", "a Secret in the manifests overwrites the real one"
        if resource["kind"] == "ConfigMap":
            assert not SECRET_SETTINGS & set(resource["data"])
    used = {k for c in CONTAINERS.values() for k in c.secret_keys.values()}
    assert used == set(SECRETS) | set(OPTIONAL_SECRETS)
    assert list(secrets_example()) == list(SECRETS)
    assert list(optional_secrets_example()) == list(OPTIONAL_SECRETS)
    optional = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for d in k8s_resources()
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("optional")
    }
    assert optional == set(OPTIONAL_SECRETS), "optional keys are optional: true references"
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert f"`{SECRET_NAME}`" in operations
    for key in [*SECRETS, *OPTIONAL_SECRETS]:
        assert f"`{key}`" in operations, f"docs/operations.md does not name the Secret key {key}"


def test_the_example_secrets_are_refused_by_production(monkeypatch: pytest.MonkeyPatch):
    """The example's values are placeholders the operator must replace, not usable defaults."""
    example = secrets_example()
    ingest = next(c for c in CONTAINERS.values() if c.where == "k8s Deployment/ingest")
    refused = Container(
        where="example",
        args=ingest.args,
        env={**ingest.env, **{v: example[k] for v, k in ingest.secret_keys.items()}},
        mounts=ingest.mounts,
        read_only_root=True,
        secret_keys=ingest.secret_keys,
    )
    with pytest.raises(ValidationError):
        load(refused, monkeypatch)


@pytest.mark.parametrize(
    "container",
    [c for c in k8s_containers(SECRETS) if c.service == "outbound"],
    ids=lambda c: c.where,
)
def test_optional_secrets_may_be_absent(container: Container, monkeypatch: pytest.MonkeyPatch):
    """A municipality without SMS, app or chat replies creates none of their keys."""
    assert not set(OPTIONAL_SECRETS) & set(container.env)
    settings = load(container, monkeypatch)
    assert isinstance(settings, OutboundSettings)
    assert settings.messagebird_access_key is None
    assert settings.relay.password is None


def test_production_refuses_a_webhook_url_with_the_example_secret(
    monkeypatch: pytest.MonkeyPatch,
):
    """The example's webhook secrets are the placeholder: set with a URL, outbound refuses."""
    example = optional_secrets_example()
    outbound = CONTAINERS["k8s Deployment/outbound"]
    for channel in ("APP", "CHAT"):
        refused = Container(
            where="example",
            args=outbound.args,
            env={
                **outbound.env,
                f"EENLOKET_{channel}_WEBHOOK_URL": "https://app.gemeente.example.nl/eenloket",
                f"EENLOKET_{channel}_WEBHOOK_SECRET": example[f"EENLOKET_{channel}_WEBHOOK_SECRET"],
            },
            mounts=outbound.mounts,
            read_only_root=True,
        )
        with pytest.raises(ValidationError, match=f"EENLOKET_{channel}_WEBHOOK_SECRET"):
            load(refused, monkeypatch)


def test_production_refuses_the_notification_components_example_secret(
    monkeypatch: pytest.MonkeyPatch,
):
    """With config.yaml's EENLOKET_NRC_URL, the example's placeholder secret — or no secret at
    all (its key is optional in the Secret) — is refused by the service and its migration job
    alike (the job fails before a rollout)."""
    example = optional_secrets_example()
    for where in ("k8s Deployment/notifications", "k8s Job/migrate-notifications"):
        container = CONTAINERS[where]
        assert container.env["EENLOKET_NRC_URL"].startswith("https://")
        without = {k: v for k, v in container.env.items() if k != "EENLOKET_NRC_SECRET"}
        for env in (without | {"EENLOKET_NRC_SECRET": example["EENLOKET_NRC_SECRET"]}, without):
            refused = Container(
                where="example",
                args=container.args,
                env=env,
                mounts=container.mounts,
                read_only_root=True,
            )
            with pytest.raises(ValidationError, match="EENLOKET_NRC_SECRET"):
                load(refused, monkeypatch)
