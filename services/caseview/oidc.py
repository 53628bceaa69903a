"""The issuer's signing keys: its JWKS, found through OIDC discovery (or named directly), cached.

A request never waits for the network while its key is known: keys are fetched on the first
token, again when a token names a key id the cache does not know (the issuer rotated its key),
and in the background when the cache is older than ``max_age``. Fetches are single-flight and
at most one per ``min_interval`` seconds, so a stream of tokens with made-up key ids cannot
make caseview hammer the issuer. A failed fetch keeps the keys it had: while the issuer is
down, tokens it already issued keep working until they expire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

FetchJson = Callable[[str], Awaitable[Any]]


class UnknownKeyError(Exception):
    """The token names a key the issuer does not publish (or the issuer cannot be reached)."""


async def fetch_json(url: str) -> Any:
    # A small timeout: this runs while a request waits (first token, rotation).
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """Signing keys by key id; keys for encryption, without an id, or of unknown types skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type or algorithm this build of PyJWT does not know
    return keys


class IssuerKeys:
    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        fetch: FetchJson = fetch_json,
        max_age: float = 3600.0,
        min_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._jwks_url = jwks_url  # None: from the discovery document
        self._discover = jwks_url is None
        self._fetch = fetch
        self._max_age = max_age
        self._min_interval = min_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -math.inf  # last successful fetch
        self._tried_at = -math.inf  # last attempt, successful or not
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.fetches = 0  # attempts, for tests and the curious

    async def key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is None:  # a key not seen yet: this request waits for one fetch
            await self.refresh()
            key = self._keys.get(kid)
            if key is None:
                raise UnknownKeyError(f"no signing key {kid!r} at the issuer")
        elif self._clock() - self._fetched_at > self._max_age and self._background is None:
            # Known but old: refresh behind the request's back (a slow or absent issuer must
            # not hold up requests whose key is known).
            self._background = asyncio.create_task(self._refresh_in_background())
        return key

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        finally:
            self._background = None

    async def refresh(self) -> None:
        async with self._lock:
            # Whoever waited on the lock while another fetched finds the attempt just made.
            if self._clock() - self._tried_at < self._min_interval:
                return
            self._tried_at = self._clock()
            self.fetches += 1
            try:
                keys = parse_jwks(await self._fetch(await self._jwks_location()))
            except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
                if self._discover:
                    self._jwks_url = None  # the issuer may have moved its JWKS: ask again
                log.warning(
                    "fetching the issuer's keys failed (keeping %d): %r", len(self._keys), exc
                )
                return
            self._keys = keys
            self._fetched_at = self._clock()

    async def _jwks_location(self) -> str:
        if self._jwks_url is None:
            document = await self._fetch(discovery_url(self._issuer))
            if not isinstance(document, dict) or document.get("issuer") != self._issuer:
                # OIDC Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
                raise ValueError("discovery document names another issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("discovery document has no jwks_uri")
            self._jwks_url = jwks_uri
        return self._jwks_url
