"""``/.well-known/security.txt`` (RFC 9116), served by every service (SECURITY.md).

Contact and expiry come from the environment, so a municipality running Eenloket names its own
security contact: ``EENLOKET_SECURITY_CONTACT`` (``mailto:`` or ``https:`` URI, several
separated by commas), ``EENLOKET_SECURITY_EXPIRES`` (an ISO 8601 date-time), and
``EENLOKET_SECURITY_POLICY`` (the disclosure policy's URL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import empty_is_unset

# Without a configured expiry the file says "valid for this long from now": RFC 9116 advises
# less than a year, and an unconfigured deployment should never serve an expired file.
DEFAULT_VALIDITY = timedelta(days=180)
# The project's own channels (pyproject.toml's Source); a municipality sets its own.
DEFAULT_POLICY = "https://github.com/eenloket/eenloket/blob/main/SECURITY.md"
DEFAULT_CONTACT = "https://github.com/eenloket/eenloket/security/advisories/new"


class SecurityTxtSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EENLOKET_SECURITY_", extra="ignore", frozen=True)

    contact: str = DEFAULT_CONTACT
    expires: AwareDatetime | None = None
    policy: str = DEFAULT_POLICY
    preferred_languages: str = "nl, en"

    _empty_expires_is_unset = field_validator("expires", mode="before")(
        staticmethod(empty_is_unset)
    )

    @field_validator("contact")
    @classmethod
    def _uris(cls, value: str) -> str:
        for uri in value.split(","):
            if not uri.strip().startswith(("mailto:", "https://", "tel:")):
                raise ValueError(f"a security contact is a mailto:, https: or tel: URI: {uri!r}")
        return value

    def contacts(self) -> list[str]:
        return [c.strip() for c in self.contact.split(",") if c.strip()]

    def render(self, canonical: str, now: datetime) -> str:
        expires = self.expires or now + DEFAULT_VALIDITY
        lines = [f"Contact: {c}" for c in self.contacts()]
        lines += [
            f"Expires: {expires.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            f"Preferred-Languages: {self.preferred_languages}",
            f"Policy: {self.policy}",
            f"Canonical: {canonical}",
        ]
        return "\n".join(lines) + "\n"


def security_txt_router(settings: SecurityTxtSettings | None = None) -> APIRouter:
    settings = settings or SecurityTxtSettings()
    router = APIRouter(tags=["operations"])

    # Outside the OpenAPI document: it is a convention of the web, not part of the /v1 API.
    @router.get("/.well-known/security.txt", include_in_schema=False)
    async def security_txt(request: Request) -> PlainTextResponse:
        # Canonical is where this copy was fetched from (behind a proxy: its forwarded URL).
        text = settings.render(str(request.url.replace(query="")), datetime.now(UTC))
        return PlainTextResponse(text, media_type="text/plain; charset=utf-8")

    return router
