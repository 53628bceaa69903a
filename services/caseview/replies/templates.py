"""The reply templates (``deploy/templates.yaml``): per product and channel, Dutch at B1.

A template is Jinja2 text rendered in a ``SandboxedEnvironment`` with ``StrictUndefined``:
staff and ops write the file, residents read the result, so a template may use only the
variables below (a missing one is an error, not an empty string) and cannot reach Python
internals (``{{ ''.__class__ }}`` is refused). The file is validated when it is read: every
template must render with sample values, so a broken template stops caseview at start-up
(and ``eenloket templates check``) instead of failing a reply.

Variables: ``case_number``, ``due_date`` (Dutch, e.g. "4 december 2026"; empty without a
norm), ``team`` (the owning team's public name from the routing file), ``name`` (the
resident's display name, or "heer/mevrouw"), ``text`` (the staff member's free text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contracts.outbound import ReplyChannel

ANY_PRODUCT = "*"
# The template that replaces a reply's contents when it may not carry them (a confidential
# case to an address below verified): it must exist for every channel staff can use.
NOTICE = "kennisgeving"
MONTHS = (
    *("januari", "februari", "maart", "april", "mei", "juni"),
    *("juli", "augustus", "september", "oktober", "november", "december"),
)
SAMPLE = {
    "case_number": "Z-2026-000123",
    "due_date": "4 december 2026",
    "team": "Burgerzaken",
    "name": "mevrouw El Amrani",
    "text": "Uw paspoort ligt klaar.",
}
VARIABLES = frozenset(SAMPLE)

_env = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class TemplatesFileError(ValueError):
    pass


class TemplateRenderError(ValueError):
    pass


def dutch_date(when: date | datetime | None) -> str:
    """``4 december 2026``; empty when there is no date."""
    if when is None:
        return ""
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def render(source: str, variables: dict[str, Any]) -> str:
    """Render one template text in the sandbox (``TemplateRenderError`` with the reason)."""
    try:
        return _env.from_string(source).render(**variables).strip()
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc


class Template(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    product: str = Field(default=ANY_PRODUCT, min_length=1, max_length=200)
    channel: ReplyChannel
    subject: str | None = Field(default=None, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    # "text" required: the template has a place for the staff member's own words.
    needs_text: bool = False


class TemplatesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    templates: list[Template] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> TemplatesFile:
        problems: list[str] = []
        seen: set[tuple[str, str, str]] = set()
        for n, t in enumerate(self.templates):
            where = f"templates[{n}] ({t.name}, {t.product}, {t.channel.value})"
            key = (t.name, t.product, t.channel.value)
            if key in seen:
                problems.append(f"{where}: defined twice")
            seen.add(key)
            for part, source in (("subject", t.subject), ("body", t.body)):
                if source is None:
                    continue
                try:
                    rendered = render(source, SAMPLE)
                except TemplateRenderError as exc:
                    problems.append(f"{where}: {part} does not render: {exc}")
                    continue
                if part == "subject" and ("\r" in rendered or "\n" in rendered):
                    problems.append(f"{where}: subject has a line break")
            if t.needs_text and "text" not in t.body:
                problems.append(f"{where}: needs_text but the body does not use 'text'")
        channels = {t.channel for t in self.templates if t.name == NOTICE}
        for missing in sorted(set(ReplyChannel) - channels - {ReplyChannel.APP, ReplyChannel.CHAT}):
            problems.append(f"no '{NOTICE}' template for channel {missing.value}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str | None
    text: str


class Templates:
    """The loaded file: the template for a product and channel (the product's own, else ``*``)."""

    def __init__(self, spec: TemplatesFile) -> None:
        self.spec = spec
        self._by_key = {(t.name, t.product.lower(), t.channel): t for t in spec.templates}

    def find(self, name: str, product: str | None, channel: ReplyChannel) -> Template | None:
        if product is not None:
            own = self._by_key.get((name, product.lower(), channel))
            if own is not None:
                return own
        return self._by_key.get((name, ANY_PRODUCT, channel))

    def names(self) -> list[str]:
        return sorted({t.name for t in self.spec.templates})

    def render(self, template: Template, variables: dict[str, Any]) -> Rendered:
        subject = None if template.subject is None else render(template.subject, variables)
        return Rendered(template.name, subject, render(template.body, variables))


def load_templates(path: Path) -> Templates:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplatesFileError(f"cannot read the templates file {path}: {exc}") from exc
    try:
        return Templates(TemplatesFile.model_validate(doc))
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in exc.errors(include_input=False)
        ]
        raise TemplatesFileError(
            f"the templates file {path} is not valid: " + "; ".join(lines)
        ) from exc
