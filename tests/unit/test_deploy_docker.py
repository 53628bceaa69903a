"""Where a Docker engine answers: the image builds and Compose starts every service ready.

Elsewhere (no engine: this project's development machines and CI) the test skips with its
reason, and it is the one skip CI allows (marker ``docker_engine``, tests/conftest.py): the
files themselves are checked without Docker by the other tests/unit/test_deploy_*.py.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import urllib.request
import uuid

import pytest
import yaml

from tests.support import eventually_sync
from tests.unit.deploy_files import COMPOSE, ROOT, SERVICES

# compose.yaml's ports: 8001 for the first service, and so on.
SERVICE_PORTS = {name: 8001 + n for n, name in enumerate(SERVICES)}


def docker_engine_problem() -> str | None:
    """Why no Docker engine answers, or None when one does."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0:
        lines = (info.stderr or info.stdout).strip().splitlines() or ["(no output)"]
        return f"`docker info` failed: {lines[-1]}"
    return None


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.docker_engine
@pytest.mark.timeout(1200)
def test_the_image_builds_and_compose_starts_every_service_ready():
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine: {problem}")
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, port in SERVICE_PORTS.items():
        assert f"{port}:8000" in compose["services"][name]["ports"]
    project = f"eenloket-test-{uuid.uuid4().hex[:8]}"
    command = ["docker", "compose", "-p", project, "-f", str(COMPOSE)]
    try:
        subprocess.run([*command, "build"], cwd=ROOT, check=True, timeout=900)
        subprocess.run([*command, "up", "-d"], cwd=ROOT, check=True, timeout=300)
        for port in SERVICE_PORTS.values():
            eventually_sync(functools.partial(ready, port), timeout=240)
        cli = subprocess.run(
            [*command, "exec", "-T", "ingest", "eenloket", "--help"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
    finally:
        subprocess.run([*command, "down", "-v"], cwd=ROOT, timeout=300, check=False)
