"""Mutants as a permanent guard (issue #25): each patch in this folder plants one defect the
reliability suite exists to catch; the runner proves, every time it runs, that it still does.

For each ``*.patch`` here (sorted by name) the runner

1. copies the repository's working tree into a fresh temporary folder: every file
   ``git ls-files --cached --others --exclude-standard`` names (tracked files as they are in the
   working tree, uncommitted changes included, plus new files not ignored), so the mutants run
   against the code as it is now, never only the last commit; ``.venv``, ``.local`` and caches
   are not copied. The source repository is never written to;
2. applies the patch there with ``git apply`` (a patch that no longer applies **fails**: the
   patches are kept current with the code they mutate);
3. proves which code will run: imports each mutated module with the interpreter, working
   directory and environment the test gets (the services' processes are started the same way,
   ``python -m services.<name>`` from the copy's root with that environment) and requires its
   file to be the copy's; the ``provenance`` plugin does the same for the test process itself
   (a module loaded from the source repository: ``leaked``, a failure);
4. runs the mutant's target test there: the project's virtualenv interpreter, working directory
   the copy, ``PYTHONPATH`` the copy first (ahead of the editable install, which points at the
   source repository), ``-x``, ``EENLOKET_RELIABILITY_SCALE=ci`` by default, the same Kafka and
   PostgreSQL (``EENLOKET_TEST_KAFKA_BOOTSTRAP`` / ``EENLOKET_TEST_PG_DSN``), and requires it
   to **fail** (a test failure in the JUnit report; an error, a skip or no test at all is not a
   catch). A mutant whose target passes **survived**: the run fails.

Each patch starts with a header of ``# Key: value`` lines before the diff::

    # Defect: what the patch breaks, in a sentence or two
    # Target: tests/reliability/test_r3_outbox_crash.py     (pytest arguments: node ids)
    # Also caught by: R1 (what else would catch it, for the record)

Run: ``make test-reliability-mutants`` (all), or
``python -m tests.reliability.mutants.run --only 03-router-records-twice``. Reports and the
tests' logs go to ``$EENLOKET_LOCAL/mutants/<time>/`` (default ``.local/mutants/``); the exit
status is 0 only if every mutant was caught. docs/reliability.md lists the mutants and costs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PLUGIN = HERE / "provenance.py"
PLUGIN_MODULE = "mutant_provenance"
# The targets are reliability tests, which the project's pytest configuration deselects by
# default (``-m 'not reliability'``); the first failure is enough.
PYTEST_ARGS: tuple[str, ...] = ("-x", "-p", "no:cacheprovider", "-m", "reliability")
TIMEOUT = 900.0  # seconds per mutant, setup included; a run that takes longer is no catch

CAUGHT = "caught"
SURVIVED = "survived"  # the target test passed with the defect in place
DOES_NOT_APPLY = "does-not-apply"  # the patch is out of date
ERRORED = "errored"  # collection or setup error, or no test ran: not a catch
LEAKED = "leaked"  # the run imported the source repository's code, not the mutated copy
TIMED_OUT = "timed-out"


class PatchError(ValueError):
    """A mutant file without the header the runner needs."""


@dataclass(frozen=True)
class Mutant:
    name: str
    path: Path
    defect: str
    targets: tuple[str, ...]
    also_caught_by: str = ""

    def files(self) -> list[str]:
        """The files the patch changes (repository-relative)."""
        found = []
        for line in self.path.read_text().splitlines():
            if line.startswith("+++ b/"):
                found.append(line.removeprefix("+++ b/").strip())
        return found


def parse(path: Path) -> Mutant:
    """A mutant from its file: the ``# Key: value`` header before the diff."""
    fields: dict[str, str] = {}
    key = ""
    for line in path.read_text().splitlines():
        if line.startswith(("diff --git ", "--- ")):
            break
        if not line.startswith("#"):
            continue
        text = line[1:].strip()
        head, sep, rest = text.partition(":")
        if sep and head in ("Defect", "Target", "Also caught by"):
            key = head
            fields[key] = rest.strip()
        elif key and text:  # a continuation line
            fields[key] = f"{fields[key]} {text}"
    if not fields.get("Defect") or not fields.get("Target"):
        raise PatchError(f"{path.name}: needs '# Defect:' and '# Target:' lines before the diff")
    return Mutant(
        name=path.name.removesuffix(".patch"),
        path=path,
        defect=fields["Defect"],
        targets=tuple(fields["Target"].split()),
        also_caught_by=fields.get("Also caught by", ""),
    )


def mutants(folder: Path = HERE) -> list[Mutant]:
    return [parse(p) for p in sorted(folder.glob("*.patch"))]


def _clean_git_env() -> dict[str, str]:
    """The environment without GIT_DIR and friends: git must see the folder it runs in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def copy_tree(repo: Path, dest: Path) -> int:
    """Copy the working tree's files (tracked, and untracked but not ignored) into ``dest``;
    returns how many. A tracked file deleted in the working tree is not copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        env=_clean_git_env(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    count = 0
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = repo / name
        if not source.exists() and not source.is_symlink():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
        count += 1
    return count


def apply_patch(patch: Path, copy: Path) -> str | None:
    """Apply ``patch`` in ``copy`` (not a git repository: git apply works as patch there);
    None when it applied, else git's complaint."""
    result = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", str(patch)],
        cwd=copy,
        env=_clean_git_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    return None if result.returncode == 0 else (result.stderr.strip() or "git apply failed")


def module_name(file: str) -> str | None:
    if not file.endswith(".py"):
        return None
    parts = file.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


FAILED = "import failed"


def where_imported(
    python: str, copy: Path, env: Mapping[str, str], modules: Sequence[str]
) -> dict[str, str]:
    """Each module's file as the test and the services' processes would import it."""
    if not modules:
        return {}
    code = (
        "import importlib, json, sys\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))\n"
    )
    result = subprocess.run(
        [python, "-c", code, *modules],
        cwd=copy,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        return {m: f"{FAILED}: {result.stderr.strip().splitlines()[-1:]}" for m in modules}
    found: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


@dataclass
class Junit:
    tests: int = 0
    failed: list[str] = field(default_factory=list)
    errored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_junit(path: Path) -> Junit:
    """What the run's JUnit report says (pytest ``--junitxml``)."""
    report = Junit()
    if not path.exists():
        return report
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        report.tests += 1
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None:
            report.failed.append(name)
        elif case.find("error") is not None:
            report.errored.append(name)
        elif case.find("skipped") is not None:
            report.skipped.append(name)
    return report


@dataclass
class Result:
    name: str
    outcome: str
    seconds: float
    targets: list[str]
    failed_tests: list[str] = field(default_factory=list)
    detail: str = ""
    imported_from: dict[str, str] = field(default_factory=dict)
    log: str = ""

    @property
    def caught(self) -> bool:
        return self.outcome == CAUGHT


def verdict(returncode: int, junit: Junit, leaks: Sequence[str]) -> tuple[str, str]:
    """(outcome, detail) of a target run: caught only when a test *failed*."""
    if leaks:
        return LEAKED, f"imported from the source repository: {list(leaks)[:5]}"
    if junit.failed:
        return CAUGHT, f"failed: {junit.failed}"
    if junit.errored:
        return ERRORED, f"errors, no failure (not a catch): {junit.errored}"
    ran = junit.tests - len(junit.skipped)
    if ran <= 0:
        return ERRORED, f"no test ran (pytest exit {returncode}; skipped: {junit.skipped})"
    if returncode != 0:
        return ERRORED, f"pytest exit {returncode} without a failing test"
    return SURVIVED, f"{ran} test(s) passed with the defect in place"


def _run(
    command: list[str], *, cwd: Path, env: Mapping[str, str], log: Path, timeout: float
) -> int:
    """Run ``command`` in a session of its own (the services it starts belong to it), output
    to ``log``; its exit status, or -1 when it ran out of time (then the whole session, the
    services it started included, is killed)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -1


def target_env(
    base: Mapping[str, str], *, copy: Path, source: Path, plugins: Path, out: Path, scale: str
) -> dict[str, str]:
    """The target's environment: the copy first on ``PYTHONPATH`` (the editable install of the
    virtualenv points at the source repository), its history and logs under ``out``."""
    env = {k: v for k, v in base.items() if not k.startswith("GIT_")}
    # A skip must not count as a catch (CI's EENLOKET_FAIL_ON_SKIP turns skips into failures).
    env.pop("EENLOKET_FAIL_ON_SKIP", None)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(copy), str(plugins), *([old] if old else [])])
    env["EENLOKET_RELIABILITY_SCALE"] = scale
    env["EENLOKET_RELIABILITY_HISTORY"] = str(out / "history")
    env["MUTANT_COPY_ROOT"] = str(copy)
    env["MUTANT_SOURCE_ROOT"] = str(source)
    env["MUTANT_PROVENANCE"] = str(out / "provenance.json")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_mutant(
    mutant: Mutant,
    *,
    repo: Path = REPO,
    out: Path,
    python: str = sys.executable,
    pytest_args: Sequence[str] = PYTEST_ARGS,
    scale: str = "ci",
    timeout: float = TIMEOUT,
    keep: bool = False,
    base_env: Mapping[str, str] | None = None,
) -> Result:
    """Apply ``mutant`` to a temporary copy of ``repo``'s working tree and run its target there;
    caught only if the target fails."""
    started = time.monotonic()
    out = out / mutant.name
    out.mkdir(parents=True, exist_ok=True)
    result = Result(mutant.name, ERRORED, 0.0, list(mutant.targets))
    tmp = Path(tempfile.mkdtemp(prefix=f"eenloket-mutant-{mutant.name}-"))
    try:
        copy, plugins = tmp / "repo", tmp / "plugins"
        plugins.mkdir()
        shutil.copy2(PLUGIN, plugins / f"{PLUGIN_MODULE}.py")
        copied = copy_tree(repo.resolve(), copy)
        complaint = apply_patch(mutant.path, copy)
        if complaint is not None:
            result.outcome, result.detail = DOES_NOT_APPLY, complaint
            return result
        env = target_env(
            base_env if base_env is not None else os.environ,
            copy=copy,
            source=repo.resolve(),
            plugins=plugins,
            out=out,
            scale=scale,
        )
        modules = [m for f in mutant.files() if (m := module_name(f))]
        result.imported_from = where_imported(python, copy, env, modules)
        unimportable = {m: f for m, f in result.imported_from.items() if f.startswith(FAILED)}
        if unimportable:
            result.detail = f"the mutated code does not import (not a catch): {unimportable}"
            return result
        stray = {m: f for m, f in result.imported_from.items() if not _inside(f, copy)}
        if stray:
            result.outcome, result.detail = LEAKED, f"not the mutated copy: {stray}"
            return result
        junit_path = out / "junit.xml"
        junit_path.unlink(missing_ok=True)
        log = out / "pytest.log"
        result.log = str(log)
        command = [
            python,
            "-m",
            "pytest",
            *pytest_args,
            "-p",
            PLUGIN_MODULE,
            f"--junitxml={junit_path}",
            *mutant.targets,
        ]
        print(
            f"[mutants] {mutant.name}: {copied} files copied to {copy}; mutated "
            + ", ".join(f"{m} imported from {f}" for m, f in result.imported_from.items())
            + f"; running {' '.join(mutant.targets)}",
            flush=True,
        )
        code = _run(command, cwd=copy, env=env, log=log, timeout=timeout)
        if code == -1:
            result.outcome, result.detail = TIMED_OUT, f"no verdict within {timeout:.0f} s"
            return result
        provenance = out / "provenance.json"
        leaks: list[str] = []
        if provenance.exists():
            leaks = json.loads(provenance.read_text())["leaks"]
        else:
            leaks = ["(no provenance report: the plugin did not run)"]
        result.outcome, result.detail = verdict(code, read_junit(junit_path), leaks)
        result.failed_tests = read_junit(junit_path).failed
        return result
    finally:
        result.seconds = round(time.monotonic() - started, 1)
        if keep:
            result.detail += f" (copy kept in {tmp})"
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _inside(file: str, folder: Path) -> bool:
    try:
        return Path(file).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def report(results: Sequence[Result]) -> str:
    lines = [f"{'mutant':<34} {'outcome':<15} {'seconds':>8}  target"]
    for r in results:
        lines.append(f"{r.name:<34} {r.outcome:<15} {r.seconds:>8.1f}  {' '.join(r.targets)}")
        if not r.caught:
            lines.append(f"    {r.detail}")
    total = sum(r.seconds for r in results)
    caught = sum(r.caught for r in results)
    lines.append(f"{caught} of {len(results)} caught in {total:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--only", action="append", default=[], help="a mutant's name (repeat)")
    parser.add_argument("--scale", default="ci", choices=["ci", "full"])
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per mutant")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--out", type=Path, default=None, help="where reports and logs go")
    parser.add_argument("--repo", type=Path, default=REPO, help="the repository to copy")
    parser.add_argument("--mutants", type=Path, default=HERE, help="the folder of patches")
    parser.add_argument(
        "--pytest-args",
        default=" ".join(PYTEST_ARGS),
        help="pytest's arguments before the target (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    chosen = mutants(args.mutants)
    if args.only:
        unknown = set(args.only) - {m.name for m in chosen}
        if unknown:
            parser.error(f"no such mutant: {sorted(unknown)}")
        chosen = [m for m in chosen if m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {' '.join(m.targets)}\n    {m.defect}")
        return 0
    local = Path(os.environ.get("EENLOKET_LOCAL", args.repo / ".local"))
    out = args.out or local / "mutants" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for m in chosen:
        result = run_mutant(
            m,
            repo=args.repo,
            out=out,
            pytest_args=args.pytest_args.split(),
            scale=args.scale,
            timeout=args.timeout,
            keep=args.keep,
        )
        print(f"[mutants] {m.name}: {result.outcome} in {result.seconds} s", flush=True)
        results.append(result)
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(report(results))
    print(f"[mutants] reports and logs: {out}")
    return 0 if results and all(r.caught for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
