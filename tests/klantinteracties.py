"""The Klantinteracties 0.9.0 document the facade serves (services/caseview/klantinteracties/),
and a check that holds a facade response to it: the status the operation documents and the
body against that response's schema (OpenAPI 3.0 rules: nullable, readOnly)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_schema_validator import OAS30ReadValidator

from services.caseview.klantinteracties.auth import Integration, token_hash

DOCUMENT = (
    Path(__file__).parents[1] / "services" / "caseview" / "klantinteracties" / "openapi-0.9.0.yaml"
)
PREFIX = "/klantinteracties/api/v1"


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def _template(path: str) -> str:
    """The document's path template of a request path (``/partijen/<id>``: ``/partijen/{uuid}``)."""
    bare = path.removeprefix(PREFIX)
    for template in document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, bare):
            return str(template)
    raise AssertionError(f"{bare} is no path of the Klantinteracties document")


def conforms(response: httpx.Response, status: int = 200) -> Any:
    """Assert the response is ``status`` and one the document defines for its operation;
    return its JSON."""
    assert response.status_code == status, response.text[:300]
    template = _template(response.request.url.path)
    operation = document()["paths"][template][response.request.method.lower()]
    assert str(response.status_code) in operation["responses"], (
        f"{response.request.method} {template}: {response.status_code} is not documented"
        f" ({response.text[:300]})"
    )
    body = response.json()
    errors = schema_errors(template, response.request.method, response.status_code, body)
    assert not errors, "\n".join(errors[:5])
    return body


def schema_errors(template: str, method: str, status: int, body: Any) -> list[str]:
    """What is wrong with ``body`` as the documented ``status`` response of an operation (OpenAPI
    3.0 rules, and the ``discriminator``: the document's Partij is a ``oneOf`` that only its
    ``soortPartij`` discriminator makes unambiguous)."""
    documented = document()["paths"][template][method.lower()]["responses"][str(status)]
    schema = documented["content"]["application/json"]["schema"]
    validator = OAS30ReadValidator({**schema, "components": document()["components"]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    return [f"{list(e.path)}: {e.message}" for e in errors]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An error the document leaves open: an RFC 9457 problem with a title (ZGW's Fout shape)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    return body


def integration(name: str, token: str, *, teams: list[str], purpose: str | None = None) -> str:
    """One integration's configuration entry (JSON) holding ``token``'s hash."""
    return Integration(
        name=name, token_sha256=token_hash(token), teams=frozenset(teams), purpose=purpose
    ).model_dump_json()
