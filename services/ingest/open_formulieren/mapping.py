"""The per-form mapping file: which of a form's values become the message's subject, text,
product hint and contact details. Read and validated once at start-up (like the router's
routing file), so a mistake in it stops ingest with the file, entry and field named instead
of failing submissions one by one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.config_file import read_yaml_model

# A value's key as Open Formulieren sends it: a component key, dots for nesting
# ("contact.email" is values["contact"]["email"]).
FieldKey = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
    ),
]
Line = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class TextField(BaseModel):
    """A value rendered into the message's text as ``label: value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: FieldKey
    label: Line | None = Field(
        default=None, description="Default: the field's title in values_schema, else the key."
    )


class FormMapping(BaseModel):
    """What one form's values become. Every field is optional: a form without any mapping
    still arrives, with the form's name as subject and all its values as text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uuid: UUID | None = Field(default=None, description="The form's UUID (metadata form_id).")
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]*$")] | None = Field(
        default=None,
        description="The form's slug: the last segment of metadata form_url.page (add "
        "form_url to the plugin's additional metadata variables).",
    )
    subject: Line | None = Field(default=None, description="A fixed subject.")
    subject_field: FieldKey | None = Field(
        default=None, description="The value that becomes the subject (before 'subject')."
    )
    text_fields: list[TextField | FieldKey] = Field(
        default_factory=list,
        description="The values rendered into the text, in this order. Empty: every value "
        "except files, in the order Open Formulieren sent them.",
    )
    product: Line | None = Field(default=None, description="A fixed product hint (UPL name).")
    product_field: FieldKey | None = Field(
        default=None, description="The value that becomes the product hint (before 'product')."
    )
    name_field: FieldKey | None = None
    email_field: FieldKey | None = None
    phone_field: FieldKey | None = None
    bsn_field: FieldKey | None = Field(
        default=None, description="A BSN typed into the form: never more than claimed."
    )
    kvk_field: FieldKey | None = Field(
        default=None, description="A KvK number typed into the form: never more than claimed."
    )

    @property
    def text(self) -> list[TextField]:
        return [f if isinstance(f, TextField) else TextField(key=f) for f in self.text_fields]


class MappingFile(BaseModel):
    """The file: the forms, and what an unknown form gets (nothing: it is refused, 422)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forms: list[FormMapping] = Field(default_factory=list)
    default: FormMapping | None = Field(
        default=None,
        description="For a form not listed. Absent: a submission of an unknown form is "
        "refused (422), and Open Formulieren shows the registration as failed.",
    )

    @model_validator(mode="after")
    def _identified_once(self) -> MappingFile:
        seen: dict[str, int] = {}
        for number, form in enumerate(self.forms):
            if form.uuid is None and form.slug is None:
                raise ValueError(f"forms.{number}: needs 'uuid' or 'slug' (or both)")
            for name in (
                f"uuid {form.uuid}" if form.uuid else None,
                f"slug {form.slug}" if form.slug else None,
            ):
                if name is None:
                    continue
                if name in seen:
                    raise ValueError(f"forms.{number}: {name} is also forms.{seen[name]}")
                seen[name] = number
        if self.default is not None and (self.default.uuid or self.default.slug):
            raise ValueError("default: names no form ('uuid'/'slug' belong in 'forms')")
        return self


class MappingFileError(ValueError):
    """The mapping file cannot be read or is invalid: ingest does not start."""


class FormMappings:
    """The validated file, looked up by a submission's form."""

    def __init__(self, spec: MappingFile) -> None:
        self.spec = spec
        self._by_uuid: Mapping[UUID, FormMapping] = {f.uuid: f for f in spec.forms if f.uuid}
        self._by_slug: Mapping[str, FormMapping] = {f.slug: f for f in spec.forms if f.slug}

    def find(self, form_id: UUID | None, slug: str | None) -> FormMapping | None:
        """The form's mapping (by UUID, then slug), else the default, else None."""
        found = self._by_uuid.get(form_id) if form_id else None
        if found is None and slug:
            found = self._by_slug.get(slug)
        return found or self.spec.default


def load_mappings(path: Path | None) -> FormMappings:
    """Read and validate the mapping file; no file: no form is known (every one refused)."""
    if path is None:
        return FormMappings(MappingFile())
    return FormMappings(read_yaml_model(path, MappingFile, MappingFileError))
