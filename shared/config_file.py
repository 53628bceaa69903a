"""A configuration file in YAML read into a pydantic model, its mistakes as one error that
names the file, the entry and the field (the router's routing file, ingest's Open
Formulieren mapping): a service with a bad file does not start."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

_M = TypeVar("_M", bound=BaseModel)


def read_yaml_model(path: Path, model: type[_M], error: type[ValueError]) -> _M:
    """``path`` validated as ``model``; ``error`` (a message starting with the path) when
    it cannot be read, is not YAML or does not validate."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise error(f"{path}: {details}") from exc
