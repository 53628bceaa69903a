"""A pytest plugin the mutant runner loads into the test run of a mutant (``-p``): proves which
copy of the code the test process imported.

At the end of the session it writes, to ``$MUTANT_PROVENANCE``, every loaded module whose file
lies in the mutated copy (``$MUTANT_COPY_ROOT``) and every one that lies in the source
repository instead (``$MUTANT_SOURCE_ROOT``, leaving out the interpreter's own prefix, where the
virtualenv lives): a module from the source repository would be the unmutated code, and the
runner then refuses the run's verdict (``leaked``). The runner copies this file beside the copy
(not into it) and puts that folder on ``PYTHONPATH``, so it also works for a repository that has
no ``tests.reliability`` package (the runner's own unit test)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest


def top_level_names(copy: Path) -> set[str]:
    """The packages and modules at the copy's root (``shared``, ``services``, ``tests``, ...)."""
    names = set()
    for entry in copy.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            names.add(entry.name)
        elif entry.suffix == ".py":
            names.add(entry.stem)
    return names


def loaded_files(copy: Path, source: Path) -> tuple[list[str], list[str]]:
    """(modules loaded from ``copy``, modules loaded from elsewhere that should not be), as
    ``name=path``. Elsewhere: the source repository (outside the interpreter's prefix, where
    the virtualenv lives), or any other place for a module of a package the copy has (an
    editable install of another checkout)."""
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    ours = top_level_names(copy)
    from_copy: list[str] = []
    leaks: list[str] = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(copy):
            from_copy.append(f"{name}={path}")
        elif name.split(".")[0] in ours or (
            path.is_relative_to(source) and not any(path.is_relative_to(p) for p in prefixes)
        ):
            leaks.append(f"{name}={path}")
    return sorted(from_copy), sorted(leaks)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("MUTANT_PROVENANCE")
    if not target:
        return
    copy = Path(os.environ["MUTANT_COPY_ROOT"]).resolve()
    source = Path(os.environ["MUTANT_SOURCE_ROOT"]).resolve()
    from_copy, leaks = loaded_files(copy, source)
    Path(target).write_text(
        json.dumps(
            {
                "cwd": os.getcwd(),
                "sys_path_head": sys.path[:4],
                "from_copy": from_copy,
                "leaks": leaks,
            },
            indent=1,
        )
    )
