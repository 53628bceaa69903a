"""Caseview settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.attachments import AttachmentStoreSettings
from shared.settings import PLACEHOLDER_SECRET, ServiceSettings

DEVKEYS = Path(__file__).parent / "devkeys"
# The router's routing file: the same EENLOKET_ROUTING_FILE and the same default as the
# router, so caseview knows the teams the router will accept (teams.py).
DEFAULT_ROUTING_FILE = Path(__file__).parents[1] / "router" / "routing" / "default.yaml"
DEFAULT_TEMPLATES_FILE = Path(__file__).parents[2] / "deploy" / "templates.yaml"
DEV_ISSUER = "https://dev-issuer.eenloket.invalid"
DEV_AUDIENCE = "eenloket-caseview"

# The social domain (design §9): contents shown only to the owning and participating teams.
DEFAULT_CONFIDENTIAL_PRODUCTS = ["bijstand", "wmo", "jeugd", "schuldhulp"]


def dev_public_key() -> str:
    return (DEVKEYS / "dev-public.pem").read_text()


# The attachment store (EENLOKET_ATTACHMENT_*): read-only here, for the attachments route.
class CaseviewSettings(ServiceSettings, AttachmentStoreSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/caseview.db"
    http_port: int = 8003
    consumer_group: str = "eenloket-caseview"
    max_batch: int = 1000
    # Records per second, and caseview's records are events: a routed message makes one to
    # four (message.routed, often case.opened, party.created, a link suggestion), the router's
    # one. At the router's 200 caseview saw ~340 at 100 messages/s and lingered, up to 50 ms
    # of a message's way to visible; at 800 both start to wait at about the same message rate.
    consumer_linger_rate: float = Field(default=800.0, ge=0)

    # OIDC: bearer tokens are JWTs signed by the issuer. Keys come from the issuer's JWKS
    # (found through its discovery document, or a JWKS URL given here) or from PEM public keys
    # given here; with none of these (outside production) the dev key.
    oidc_issuer: str = DEV_ISSUER
    oidc_audience: str = DEV_AUDIENCE
    oidc_discovery: bool = False  # keys from <issuer>/.well-known/openid-configuration
    oidc_jwks_url: str | None = None
    oidc_keys_max_age_seconds: float = Field(default=3600.0, gt=0)
    # At most one key fetch per this many seconds (an unknown `kid` refetches once).
    oidc_keys_min_refetch_seconds: float = Field(default=10.0, ge=0)
    oidc_public_keys: list[str] = Field(default_factory=list)
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # DEVELOPMENT ONLY (`make demo`): beside the issuer's tokens also the dev key's (issuer
    # DEV_ISSUER), so the scenarios' minted tokens and a Keycloak login work side by side.
    oidc_dev_tokens_too: bool = False
    # Where the console's browser logs in (authorization code + PKCE, docs/identity.md): the
    # issuer and the public client. Empty: no "Inloggen" button (dev login or pasted token).
    console_oidc_issuer: str = Field(default="", pattern=r"^(https?://[^\s\"'<>]+)?$")
    console_oidc_client_id: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]{0,100}$")
    # The same for the resident pages (/mijn-zaken/, docs/resident.md "Pages"): their public
    # client; the issuer empty means the console's (one Keycloak for both, as usual).
    resident_oidc_issuer: str = Field(default="", pattern=r"^(https?://[^\s\"'<>]+)?$")
    resident_oidc_client_id: str = Field(default="mijn-zaken", pattern=r"^[A-Za-z0-9._:-]{0,100}$")

    # Need-to-know: a case is confidential when the router says so or when its
    # product (accent- and case-insensitively) contains one of these terms.
    confidential_products: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONFIDENTIAL_PRODUCTS)
    )

    # Residents (/v1/me, docs/resident.md): the clients whose tokens are residents' (`azp`),
    # and the level of assurance a confidential (social-domain) case's contents need.
    resident_clients: list[str] = Field(default_factory=lambda: ["mijn-zaken"])
    resident_confidential_loa: Literal["low", "substantial", "high"] = "substantial"

    # Logboek Dataverwerkingen (access_log/ldv.py): every access-log entry also as an
    # OpenTelemetry span; the data subject (party id) as HMAC-SHA256 under this key.
    ldv_enabled: bool = False
    ldv_subject_key: SecretStr | None = None
    ldv_processing_activity_id: str = "eenloket-inzage-medewerker"
    ldv_resident_processing_activity_id: str = "eenloket-inzage-betrokkene"

    # The Klantinteracties facade's integrations (klantinteracties/auth.py): JSON inline
    # and/or a JSON file; tokens only as SHA-256 hashes.
    klantinteracties_integrations: str = ""
    klantinteracties_integrations_file: Path | None = None
    # Its writes go onto omni.inbound.v1 keyed as ingest keys them (an HMAC of the strongest
    # identifier): ingest's EENLOKET_SENDER_KEY_SECRET, so one sender keeps one partition.
    # Production refuses the placeholder once an integration may write (bootstrap.py).
    sender_key_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    # A contact registered in steps (POST /klantcontacten, /betrokkenen, /onderwerpobjecten)
    # goes in once complete, or with what it has after this long without a change.
    klantinteracties_settle_seconds: float = Field(default=30.0, gt=0)
    # A published draft (it holds the contact's text and sender) is deleted this long after
    # it went in: the message is in the histories by then (docs/klantinteracties.md).
    klantinteracties_draft_retention_hours: float = Field(default=168.0, gt=0)

    routing_file: Path = DEFAULT_ROUTING_FILE  # its `teams` only (handovers, participants)
    templates_file: Path = DEFAULT_TEMPLATES_FILE  # reply templates (replies/templates.py)
    # Attachments of one reply together: what a mail server commonly takes, with room to spare.
    reply_attachments_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    command_publish_timeout: float = Field(default=10.0, gt=0)
    retry_after_seconds: int = 5
    count_cap: int = Field(default=1000, ge=1)
    sse_poll_seconds: float = Field(default=1.0, gt=0)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_max_seconds: float = Field(
        default=3600.0, gt=0, description="A stream ends after this; clients resume by id."
    )
    rebuild_schema: str = Field(default="cv_rebuild", pattern=r"^[a-z_][a-z0-9_]{0,40}$")

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> CaseviewSettings:
        if self.ldv_enabled and not self.ldv_subject_key:
            raise ValueError("EENLOKET_LDV_ENABLED needs EENLOKET_LDV_SUBJECT_KEY")
        if self.environment != "production":
            return self
        if self.oidc_issuer == DEV_ISSUER:
            raise ValueError("EENLOKET_OIDC_ISSUER must be the real issuer in production")
        if self.oidc_dev_tokens_too:
            raise ValueError("EENLOKET_OIDC_DEV_TOKENS_TOO is for development only")
        if not (self.oidc_discovery or self.oidc_jwks_url or self.oidc_public_keys):
            raise ValueError(
                "set EENLOKET_OIDC_DISCOVERY=true, EENLOKET_OIDC_JWKS_URL or"
                " EENLOKET_OIDC_PUBLIC_KEYS"
            )
        dev = "".join(dev_public_key().split())
        if any("".join(k.split()) == dev for k in self.oidc_public_keys):
            raise ValueError("the dev public key is refused in production")
        return self

    def trusted_public_keys(self) -> list[str]:
        """PEM keys to verify with when no JWKS is used (the dev key only off production)."""
        if self.oidc_public_keys:
            return list(self.oidc_public_keys)
        jwks = self.oidc_discovery or self.oidc_jwks_url is not None
        if not jwks and self.environment != "production":
            return [dev_public_key()]
        return []
