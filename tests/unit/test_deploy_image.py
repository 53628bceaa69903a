"""The image holds everything the services and the ``eenloket`` command need.

The build stage installs the project from what the Dockerfile copies, so a package it does not
copy is missing from the image (as ``ops/`` was: ``eenloket`` could not run in it), and a data
file pyproject.toml's package-data does not match (the console's pages, the routing file) is
missing from the installed wheel.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy_files import DEPLOY, DOCKERFILE, ROOT, SERVICES, dockerfile_instructions

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"


def packages() -> set[str]:
    """The top-level packages pyproject.toml installs (``include = ["shared*", ...]``)."""
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*").rstrip(".") for pattern in include}


def copied_into_the_build_stage() -> set[str]:
    build = dockerfile_instructions()[0][0]
    copied: set[str] = set()
    for stage, instruction, args in dockerfile_instructions():
        if stage == build and instruction == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            copied.update(s.rstrip("/") for s in sources)
    return copied


def test_every_package_and_the_project_files_are_copied_into_the_build():
    assert packages() >= {"services", "shared", "ops"}
    for service in SERVICES:  # each runs as `python -m services.<name>`
        assert (ROOT / "services" / service / "__main__.py").exists(), service
    for package in packages():
        assert (ROOT / package / "__init__.py").exists(), package
    missing = packages() | {"pyproject.toml", PYPROJECT["project"]["readme"]}
    missing -= copied_into_the_build_stage()
    assert not missing, f"{DOCKERFILE.name} does not copy {sorted(missing)}"


def test_the_build_context_keeps_what_is_copied():
    ignore = DOCKERFILE.with_name("Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p for p in ignore if p.strip() and not p.startswith("#")]
    for copied in copied_into_the_build_stage():
        assert not any(fnmatch.fnmatch(copied, p) for p in patterns), copied


def _installed_as_package_data(path: Path) -> bool:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    return any(fnmatch.fnmatch(path.name, glob) for glob in data.get("*", []))


@pytest.mark.parametrize(
    "folder",
    ["services/caseview/console/static", "services/router/routing", "services/caseview/devkeys"],
)
def test_the_console_pages_and_the_routing_file_are_installed_with_the_code(folder: str):
    files = [
        p
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc", ".md")
    ]
    assert files
    assert not [str(p) for p in files if not _installed_as_package_data(p)]


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        (["ingest", "serve"], "python -m services.ingest serve"),
        (["router", "migrate"], "python -m services.router migrate"),
        (["caseview", "openapi"], "python -m services.caseview openapi"),
        (["outbound", "serve"], "python -m services.outbound serve"),
        (["eenloket", "keys", "new", "portal"], "eenloket keys new portal"),
    ],
)
def test_the_entrypoint_runs_each_service_and_the_command(
    args: list[str], runs: str, tmp_path: Path
):
    for program in ("python", "eenloket"):
        stub = tmp_path / program
        stub.write_text(f'#!/bin/sh\necho {program} "$@"\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == runs


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_runs_every_service(service: str, tmp_path: Path):
    test_the_entrypoint_runs_each_service_and_the_command(
        [service, "migrate"], f"python -m services.{service} migrate", tmp_path
    )


def test_the_entrypoint_refuses_an_unknown_service():
    done = subprocess.run(["sh", str(ENTRYPOINT), "mailer"], capture_output=True, text=True)
    assert done.returncode == 64
    assert "unknown service 'mailer'" in done.stderr
