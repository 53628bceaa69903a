"""The body the generic JSON registration plugin ("JSON dump") posts, and what in it is
evidence. Open Formulieren fills its static variables itself: ``auth_type`` (a fixed
metadata variable), ``auth_bsn``/``auth_kvk`` (after a DigiD/eHerkenning login; empty
otherwise) and ``public_reference``. Ingest reads the login only from ``metadata``, which
holds nothing but such variables; a value of the form (``values``) is what a person typed.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.attachments import Blob

Reference = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
]


class FormUrl(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    page: str = ""


class Metadata(BaseModel):
    """The plugin's metadata variables. Its fixed ones by default: public_reference,
    form_name, form_version, form_id, registration_timestamp, auth_type; others are the
    "additional metadata variables" the form designer chose (here: auth_bsn, auth_kvk,
    auth_context_branch_number, form_url). Others are kept out of the message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    public_reference: Reference = Field(
        description="The submission's public reference: a re-post of it is one message."
    )
    form_id: uuid.UUID | None = None
    form_name: str = Field(default="", max_length=300)
    form_version: str = Field(default="", max_length=300)
    form_url: FormUrl | None = None
    auth_type: Literal["bsn", "kvk", "pseudo", "employee_id", ""] = ""
    auth_bsn: str = Field(default="", pattern=r"^(\d{9})?$")
    auth_kvk: str = Field(default="", pattern=r"^(\d{8})?$")
    auth_context_branch_number: str = Field(default="", pattern=r"^(\d{12})?$")

    @property
    def slug(self) -> str | None:
        if self.form_url is None:
            return None
        segments = [s for s in self.form_url.page.split("/") if s]
        return segments[-1] if segments else None

    @property
    def login(self) -> str:
        """The login Open Formulieren reports, in the web form's words."""
        return {"bsn": "digid", "kvk": "eherkenning"}.get(self.auth_type, "none")


class JsonDump(BaseModel):
    """``{values, values_schema, metadata, metadata_schema}``. Keys a later plugin version
    adds are ignored: a new version must not make every registration fail."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    values: dict[str, Any]
    values_schema: dict[str, Any] = Field(default_factory=dict)
    metadata: Metadata
    metadata_schema: dict[str, Any] = Field(default_factory=dict)

    def value(self, key: str) -> Any:
        """A value by its key; dots descend into nested values. Absent: None."""
        current: Any = self.values
        for part in key.split("."):
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current

    def title(self, key: str) -> str | None:
        """The field's title in values_schema (the label the form shows)."""
        schema: Any = self.values_schema
        for part in key.split("."):
            properties = schema.get("properties") if isinstance(schema, dict) else None
            if not isinstance(properties, dict) or part not in properties:
                return None
            schema = properties[part]
        title = schema.get("title") if isinstance(schema, dict) else None
        return title if isinstance(title, str) and title.strip() else None


def is_file(value: Any) -> bool:
    """A file as the plugin sends it: ``{"file_name": …, "content": <base64>}``."""
    return isinstance(value, dict) and set(value) == {"file_name", "content"}


def files(value: Any, path: str = "values") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every file in the values (single, multiple, inside an edit grid), with its path."""
    if is_file(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from files(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from files(item, f"{path}.{index}")


class BadFileError(ValueError):
    """A file whose name or content is not what the plugin sends (``path``: where)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path


def blob(path: str, file: dict[str, Any]) -> Blob:
    """The file's bytes (strict base64, RFC 4648) and a media type from its name: the
    plugin sends none."""
    name, content = file["file_name"], file["content"]
    if not isinstance(name, str) or not isinstance(content, str):
        raise BadFileError(path, "file_name and content must be strings")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadFileError(path, "content is not base64 (RFC 4648)") from exc
    media_type = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    return Blob(data=data, filename=name or None, media_type=media_type)
