"""`make release VERSION=x.y.z` in a temporary clone (never a real tag here): it tags only a
release that is ready, and says why another is not."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy_files import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The clone shares this checkout's built tools (.local/bin) and virtualenv.
    env = {**os.environ, "EENLOKET_LOCAL": os.environ.get("EENLOKET_LOCAL", str(ROOT / ".local"))}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def release(clone: Path, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    python = Path(sys.executable)
    return run(
        "make",
        "-o",
        "venv",
        "release",
        f"VERSION={version}",
        f"BIN={python.parent}",
        *extra,
        cwd=clone,
    )


def commit_all(clone: Path, message: str) -> None:
    run("git", "add", "-A", cwd=clone)
    done = run(
        "git", "-c", "user.name=t", "-c", "user.email=t@t.test", "commit", "-qm", message, cwd=clone
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    head = run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    target = tmp_path / "eenloket"
    assert (
        run("git", "clone", "-q", "--no-checkout", str(ROOT), str(target), cwd=tmp_path).returncode
        == 0
    )
    assert run("git", "checkout", "-q", head, cwd=target).returncode == 0
    for tag in run("git", "tag", "--list", cwd=target).stdout.split():
        run("git", "tag", "-d", tag, cwd=target)
    run("git", "config", "user.name", "Release test", cwd=target)
    run("git", "config", "user.email", "release@eenloket.test", cwd=target)
    return target


def test_a_ready_release_is_tagged_once(clone: Path):
    dry = release(clone, VERSION, "DRY_RUN=1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"release: {VERSION} is ready (dry run: no tag)" in dry.stdout
    assert run("git", "tag", "--list", cwd=clone).stdout == ""
    done = release(clone, VERSION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert run("git", "cat-file", "-t", f"v{VERSION}", cwd=clone).stdout.strip() == "tag"
    again = release(clone, VERSION)
    assert again.returncode != 0
    assert f"the tag v{VERSION} exists already" in again.stderr


def test_a_version_other_than_pyprojects_is_refused(clone: Path):
    done = release(clone, "9.9.9")
    assert done.returncode != 0
    assert f"pyproject.toml says version {VERSION}, not 9.9.9" in done.stderr
    assert run("git", "tag", "--list", cwd=clone).stdout == ""


def test_a_release_without_its_changelog_section_is_refused(clone: Path):
    changelog = clone / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(f"## [{VERSION}]", "## [0.0.9]"))
    commit_all(clone, "changelog without the release")
    done = release(clone, VERSION)
    assert done.returncode != 0
    assert f"CHANGELOG.md has no section '## [{VERSION}]" in done.stderr


def test_committed_documents_that_differ_from_the_code_are_refused(clone: Path):
    document = clone / "docs" / "api" / "router.json"
    document.write_text(document.read_text().replace('"title": "Eenloket router"', '"title": "x"'))
    commit_all(clone, "a hand-edited document")
    done = release(clone, VERSION)
    assert done.returncode != 0
    assert "docs/api is not what the code generates (router.json)" in done.stderr
