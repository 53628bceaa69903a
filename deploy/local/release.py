"""`make release VERSION=x.y.z`: check that the release is ready, then tag it `vx.y.z`.

In order, each refusing with one line on stderr (docs/compatibility.md, docs/operations.md):
the version is x.y.z and pyproject.toml's; CHANGELOG.md has its section; the OpenAPI
documents and the event schemas regenerated equal the committed ones, and so do the copies
kept for this release in docs/releases/x.y.z/; /v1 and the event types are compatible with
the previous release kept; the work tree is clean and the tag is new. Then an annotated tag.

    python deploy/local/release.py 0.2.0 [--dry-run]   # --dry-run: every check, no tag
    python deploy/local/release.py 0.2.0 --snapshot    # write docs/releases/0.2.0/
"""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compatibility

ROOT = compatibility.ROOT
SERVICES = ("ingest", "router", "caseview", "outbound", "notifications")


class NotReadyError(Exception):
    pass


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
    if out.returncode != 0:
        raise NotReadyError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def regenerate(into: Path) -> None:
    """The documents `make openapi` and `make events` write, into ``into``/api and /events."""
    (into / "api").mkdir(parents=True)
    for service in SERVICES:
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", f"services.{service}", "openapi"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        (into / "api" / f"{service}.json").write_text(out.stdout)
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "shared.contracts.schemas", str(into / "events")],
        cwd=ROOT,
        check=True,
    )


def differing(expected: Path, actual: Path) -> list[str]:
    """The files only in one folder or different (compared byte for byte)."""
    comparison = filecmp.dircmp(expected, actual)
    changed = [
        name
        for name in comparison.common_files
        if not filecmp.cmp(expected / name, actual / name, shallow=False)
    ]
    return sorted(comparison.left_only + comparison.right_only + changed)


def check(version: str) -> None:
    try:
        compatibility.semver(version)
    except ValueError as exc:
        raise NotReadyError(str(exc)) from exc
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    if project["version"] != version:
        raise NotReadyError(f"pyproject.toml says version {project['version']}, not {version}")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    if not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M):
        raise NotReadyError(f"CHANGELOG.md has no section '## [{version}] - YYYY-MM-DD'")
    kept = compatibility.RELEASES / version
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        regenerate(fresh)
        for kind, committed in (("api", compatibility.API), ("events", compatibility.EVENTS)):
            stale = differing(committed, fresh / kind)
            if stale:
                raise NotReadyError(
                    f"docs/{kind} is not what the code generates ({', '.join(stale)}): "
                    "run `make openapi events` and commit"
                )
            if not kept.is_dir() or differing(kept / kind, fresh / kind):
                raise NotReadyError(
                    f"docs/releases/{version}/{kind} is missing or differs: "
                    f"run `release.py {version} --snapshot` and commit"
                )
    earlier = [
        r
        for r in compatibility.releases()
        if compatibility.semver(r) < compatibility.semver(version)
    ]
    if earlier:
        problems = compatibility.check(earlier[-1])
        if problems:
            details = "\n".join(f"== {name}\n{report}" for name, report in problems.items())
            raise NotReadyError(f"breaks release {earlier[-1]} (docs/compatibility.md):\n{details}")
    if git("status", "--porcelain").strip():
        raise NotReadyError("the work tree has uncommitted changes")
    if git("tag", "--list", f"v{version}").strip():
        raise NotReadyError(f"the tag v{version} exists already")


def snapshot(version: str) -> None:
    kept = compatibility.RELEASES / version
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(compatibility.API, kept / "api")
    shutil.copytree(compatibility.EVENTS, kept / "events")
    print(f"release: wrote docs/releases/{version}/ (commit it)")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    version = argv[0]
    try:
        if "--snapshot" in argv[1:]:
            snapshot(version)
            return 0
        check(version)
        if "--dry-run" in argv[1:]:
            print(f"release: {version} is ready (dry run: no tag)")
            return 0
        git("tag", "--annotate", f"v{version}", "--message", f"Eenloket {version} (CHANGELOG.md)")
    except NotReadyError as exc:
        print(f"release {version}: not ready: {exc}", file=sys.stderr)
        return 1
    print(f"release: tagged v{version}; push it with `git push origin v{version}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
