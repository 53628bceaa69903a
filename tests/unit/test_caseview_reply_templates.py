"""Reply templates: the shipped file renders, the sandbox refuses Python internals, a
missing variable is an error, and a broken file is refused with the reason."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ops.cli import app
from services.caseview.config import DEFAULT_TEMPLATES_FILE
from services.caseview.replies.models import ReplyRequest
from services.caseview.replies.templates import (
    NOTICE,
    SAMPLE,
    TemplateRenderError,
    TemplatesFileError,
    dutch_date,
    load_templates,
    render,
)
from shared.contracts.outbound import ReplyChannel

SHIPPED = load_templates(DEFAULT_TEMPLATES_FILE)


@pytest.mark.parametrize("source", ["{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1] }}"])
def test_the_sandbox_refuses_python_internals(source: str) -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render(source, {})


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateRenderError, match="undefined"):
        render("Beste {{ naam }}", SAMPLE)


@pytest.mark.parametrize("template", SHIPPED.spec.templates, ids=lambda t: f"{t.name}-{t.channel}")
def test_every_shipped_template_renders(template) -> None:
    rendered = SHIPPED.render(template, SAMPLE)
    assert rendered.text and "{{" not in rendered.text
    if template.needs_text:
        assert SAMPLE["text"] in rendered.text


@pytest.mark.parametrize("channel", [ReplyChannel.EMAIL, ReplyChannel.SMS, ReplyChannel.LETTER])
@pytest.mark.parametrize(
    "name", ["algemeen-antwoord", "meer-informatie", "ontvangstbevestiging", NOTICE]
)
def test_the_required_templates_exist_for_email_sms_and_letter(
    name: str, channel: ReplyChannel
) -> None:
    assert SHIPPED.find(name, None, channel) is not None


def test_the_notice_carries_no_contents() -> None:
    for channel in (ReplyChannel.EMAIL, ReplyChannel.SMS, ReplyChannel.LETTER):
        notice = SHIPPED.find(NOTICE, None, channel)
        assert notice is not None
        rendered = SHIPPED.render(notice, SAMPLE)
        assert rendered.text.startswith(("Er staat een bericht", "Beste"))
        assert "Er staat een bericht voor u klaar" in rendered.text
        assert SAMPLE["text"] not in rendered.text and SAMPLE["team"] not in rendered.text


def test_a_product_has_its_own_template_else_the_general_one() -> None:
    own = SHIPPED.find("ontvangstbevestiging", "Paspoort", ReplyChannel.EMAIL)
    general = SHIPPED.find("ontvangstbevestiging", "afval", ReplyChannel.EMAIL)
    assert own is not None and own.product == "paspoort"
    assert general is not None and general.product == "*"


def test_dutch_dates() -> None:
    assert dutch_date(date(2026, 12, 4)) == "4 december 2026"
    assert dutch_date(None) == ""


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"templates-{uuid.uuid4().hex[:8]}.yaml"
    notices = "".join(
        f'  - {{name: {NOTICE}, channel: {c}, body: "Er staat een bericht voor u klaar."}}\n'
        for c in ("email", "sms", "letter")
    )
    path.write_text(f'version: "t"\ntemplates:\n{body}{notices}', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('  - {name: a, channel: email, body: "{{ nope }}"}\n', "'nope' is undefined"),
        ("  - {name: a, channel: email, body: \"{{ ''.__class__ }}\"}\n", "unsafe"),
        ('  - {name: a, channel: email, body: "{% if %}"}\n', "does not render"),
        (
            '  - {name: a, channel: email, subject: "a{{ text }}", body: x, needs_text: true}\n',
            "does not use 'text'",
        ),
        ("  - {name: a, channel: fax, body: x}\n", "channel"),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(tmp_path: Path, body: str, reason: str) -> None:
    path = _file(tmp_path, body)
    with pytest.raises(TemplatesFileError, match=reason):
        load_templates(path)
    result = CliRunner().invoke(app, ["templates", "check", str(path)])
    assert result.exit_code == 1


def test_a_file_without_the_notice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text('version: "t"\ntemplates:\n  - {name: a, channel: email, body: x}\n')
    with pytest.raises(TemplatesFileError, match=f"no '{NOTICE}' template for channel sms"):
        load_templates(path)


def test_templates_check_accepts_the_shipped_file() -> None:
    result = CliRunner().invoke(app, ["templates", "check", str(DEFAULT_TEMPLATES_FILE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.mark.parametrize(
    "body",
    [
        # A missing recipient is no longer malformed (caseview chooses: replies/choice.py).
        {"identifier_id": "not-an-id", "channel": "email"},
        {"identifier_id": str(uuid.uuid4()), "channel": "fax"},
        {"identifier_id": str(uuid.uuid4()), "channel": "email", "attachments": ["abc"]},
        {"identifier_id": str(uuid.uuid4()), "channel": "email", "template": "Bad Name"},
        {"identifier_id": str(uuid.uuid4()), "channel": "email", "bcc": "x@example.org"},
    ],
)
def test_the_request_body_refuses_malformed_fields(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ReplyRequest.model_validate(body)
