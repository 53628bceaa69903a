"""The mutant runner's own logic (tests/reliability/mutants/run.py), on a fake repository: a
tiny git repository with a trivially passing test, and patches against it. No Kafka, no mocks:
the runner copies, patches and runs pytest for real.

Proves: a mutant is caught only when its target test fails; one whose target still passes
survives and the run fails; a patch that no longer applies fails; an error or a skip is not a
catch; uncommitted and untracked work is part of the copy; the source repository is never
written to; and a test run that imports the source repository's code (or, for a package the
copy has, any other checkout's) instead of the copy's is refused (``leaked``)."""

from __future__ import annotations

import difflib
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.reliability.mutants import provenance, run
from tests.reliability.mutants.run import (
    CAUGHT,
    DOES_NOT_APPLY,
    ERRORED,
    LEAKED,
    SURVIVED,
    Junit,
    Mutant,
    PatchError,
    parse,
    run_mutant,
    verdict,
)

FAKE_ARGS = ("-x", "-p", "no:cacheprovider")  # the fake's tests carry no reliability marker

CALC = "def add(a, b):\n    # adds\n    return a + b\n"
TEST_CALC = "import calc\n\n\ndef test_add():\n    assert calc.add(2, 3) == 5\n"
# Uncommitted: a function only the working tree has, and its test, not even tracked.
DOUBLE = "\n\ndef double(x):\n    return x * 2\n"
TEST_DOUBLE = "import calc\n\n\ndef test_double():\n    assert calc.double(4) == 8\n"
# A test that imports calc from the source repository instead of the copy.
TEST_LEAK = """import importlib.util
import os


def test_leak():
    path = os.path.join(os.environ["MUTANT_SOURCE_ROOT"], "calc.py")
    spec = importlib.util.spec_from_file_location("calc_from_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import sys

    sys.modules["calc_from_source"] = module
    assert module.add(2, 3) == 5
"""
TEST_SKIP = "import pytest\n\n\ndef test_skipped():\n    pytest.skip('not here')\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.nl", "-c", "user.name=t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TEST_CALC)
    (repo / ".gitignore").write_text("ignored/\n")
    git(repo, "add", "calc.py", "test_calc.py", ".gitignore")
    git(repo, "commit", "-qm", "calc")
    with (repo / "calc.py").open("a") as f:
        f.write(DOUBLE)
    (repo / "test_double.py").write_text(TEST_DOUBLE)
    (repo / "test_leak.py").write_text(TEST_LEAK)
    (repo / "test_skip.py").write_text(TEST_SKIP)
    (repo / "ignored").mkdir()
    (repo / "ignored" / "big.bin").write_text("not copied")
    return repo


def snapshot(repo: Path) -> dict[str, str]:
    files = {str(p.relative_to(repo)): p.read_text() for p in repo.rglob("*.py")}
    files["status"] = git(repo, "status", "--porcelain", "--untracked-files=all")
    return files


def make_patch(
    folder: Path, name: str, target: str, old: str, new: str, repo: Path, *, stale: bool = False
) -> Mutant:
    """A patch of calc.py (against the working tree) replacing ``old`` by ``new``, with the
    runner's header. ``stale``: made against a calc.py the repository does not have."""
    current = (repo / "calc.py").read_text()
    if stale:
        current = current.replace("# adds", "# adds two numbers")
    assert old in current
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            current.replace(old, new).splitlines(keepends=True),
            "a/calc.py",
            "b/calc.py",
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.patch"
    path.write_text(f"# Defect: {name}\n# Target: {target}\n# Also caught by: nothing\n{diff}")
    return parse(path)


def cli(repo: Path, mutants: Path, out: Path) -> list[str]:
    """The runner's command line for the fake repository."""
    return [
        *("--repo", str(repo), "--mutants", str(mutants), "--out", str(out)),
        *("--pytest-args", " ".join(FAKE_ARGS)),
    ]


def run_one(mutant: Mutant, repo: Path, tmp_path: Path) -> run.Result:
    return run_mutant(mutant, repo=repo, out=tmp_path / "out", pytest_args=FAKE_ARGS, timeout=120)


def test_a_defect_the_test_catches_is_caught(fake_repo: Path, tmp_path: Path) -> None:
    before = snapshot(fake_repo)
    mutant = make_patch(tmp_path / "m", "minus", "test_calc.py", "a + b", "a - b", fake_repo)
    result = run_one(mutant, fake_repo, tmp_path)
    assert result.outcome == CAUGHT, result
    assert result.failed_tests == ["test_calc::test_add"]
    # Proof of which code ran: the mutated module came from the copy, never the source.
    [(module, file)] = result.imported_from.items()
    assert module == "calc" and "eenloket-mutant-minus-" in file
    assert not Path(file).exists(), "the copy is removed afterwards"
    assert snapshot(fake_repo) == before, "the source repository is never written to"


def test_a_surviving_mutant_is_a_failure(fake_repo: Path, tmp_path: Path) -> None:
    mutant = make_patch(tmp_path / "m", "comment", "test_calc.py", "# adds", "# sums", fake_repo)
    result = run_one(mutant, fake_repo, tmp_path)
    assert result.outcome == SURVIVED and not result.caught
    assert "passed with the defect in place" in result.detail
    # The command line run: a survivor fails the whole run.
    assert run.main(cli(fake_repo, tmp_path / "m", tmp_path / "out2")) == 1


def test_uncommitted_work_is_in_the_copy(fake_repo: Path, tmp_path: Path) -> None:
    mutant = make_patch(tmp_path / "m", "double", "test_double.py", "x * 2", "x * 3", fake_repo)
    result = run_one(mutant, fake_repo, tmp_path)
    assert result.outcome == CAUGHT, result
    assert run.main(cli(fake_repo, tmp_path / "m", tmp_path / "out2")) == 0


def test_a_patch_that_no_longer_applies_fails(fake_repo: Path, tmp_path: Path) -> None:
    mutant = make_patch(
        tmp_path / "m", "stale", "test_calc.py", "a + b", "a * b", fake_repo, stale=True
    )
    result = run_one(mutant, fake_repo, tmp_path)
    assert result.outcome == DOES_NOT_APPLY and not result.caught
    assert "calc.py" in result.detail


def test_an_error_or_a_skip_is_not_a_catch(fake_repo: Path, tmp_path: Path) -> None:
    broken = make_patch(tmp_path / "m", "syntax", "test_calc.py", "a + b", "a +", fake_repo)
    assert run_one(broken, fake_repo, tmp_path).outcome == ERRORED
    skipped = make_patch(tmp_path / "n", "skip", "test_skip.py", "a + b", "a - b", fake_repo)
    result = run_one(skipped, fake_repo, tmp_path)
    assert result.outcome == ERRORED and "no test ran" in result.detail


def test_code_imported_from_the_source_repository_is_refused(
    fake_repo: Path, tmp_path: Path
) -> None:
    mutant = make_patch(tmp_path / "m", "leak", "test_leak.py", "a + b", "a - b", fake_repo)
    result = run_one(mutant, fake_repo, tmp_path)
    assert result.outcome == LEAKED, result
    assert "calc_from_source" in result.detail


def test_the_header_is_required(tmp_path: Path) -> None:
    path = tmp_path / "bare.patch"
    path.write_text("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n")
    with pytest.raises(PatchError):
        parse(path)
    path.write_text(
        "# Defect: one\n#   and two\n# Target: a.py::t b.py\n# Also caught by: R1\n"
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n"
    )
    mutant = parse(path)
    assert mutant.defect == "one and two"
    assert mutant.targets == ("a.py::t", "b.py")
    assert mutant.files() == ["x.py"]


def test_only_a_failing_test_is_a_catch() -> None:
    assert verdict(1, Junit(tests=1, failed=["t"]), [])[0] == CAUGHT
    assert verdict(1, Junit(tests=1, failed=["t"]), ["calc=/src/calc.py"])[0] == LEAKED
    assert verdict(0, Junit(tests=1), [])[0] == SURVIVED
    assert verdict(2, Junit(tests=1, errored=["t"]), [])[0] == ERRORED
    assert verdict(5, Junit(tests=0), [])[0] == ERRORED
    assert verdict(0, Junit(tests=1, skipped=["t"]), [])[0] == ERRORED


def test_the_project_mutants_parse_and_name_existing_tests() -> None:
    found = run.mutants()
    assert len(found) >= 6
    root = run.REPO
    for m in found:
        assert m.files(), m.name
        for target in m.targets:
            assert (root / target.split("::")[0]).exists(), (m.name, target)


def test_a_package_of_the_copy_loaded_from_another_checkout_is_a_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy, source, other = tmp_path / "copy", tmp_path / "source", tmp_path / "other"
    for root in (copy, source, other):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "__init__.py").write_text("")
    from_copy = types.ModuleType("pkg")
    from_copy.__file__ = str(copy / "pkg" / "__init__.py")
    # As an editable install of another checkout would load it.
    elsewhere = types.ModuleType("pkg.mod")
    elsewhere.__file__ = str(other / "pkg" / "mod.py")
    monkeypatch.setitem(sys.modules, "pkg", from_copy)
    monkeypatch.setitem(sys.modules, "pkg.mod", elsewhere)
    loaded, leaks = provenance.loaded_files(copy.resolve(), source.resolve())
    assert f"pkg={copy.resolve() / 'pkg' / '__init__.py'}" in loaded
    assert leaks == [f"pkg.mod={other.resolve() / 'pkg' / 'mod.py'}"]
