"""The deployment files as data: the image's environment, Compose's and Kubernetes' containers.

Shared by the tests/unit/test_deploy_*.py tests; each container comes out with the complete
environment its process would see (the image's ``ENV``, then the file's own), so a test can
load it into the service's settings class as the process would.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
SECRETS_EXAMPLE = K8S / "secrets.env.example"
SECRET_NAME = "eenloket-secrets"
# The services the image runs; every deployment file starts each (``serve``) and its ``migrate``.
SERVICES = ("ingest", "router", "caseview", "outbound", "notifications")


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_resources() -> list[dict[str, Any]]:
    """Every resource ``kubectl apply -k deploy/k8s`` applies (the kustomization's list)."""
    (kustomization,) = yaml_documents(K8S / "kustomization.yaml")
    return [d for name in kustomization["resources"] for d in yaml_documents(K8S / name)]


def dockerfile_instructions() -> list[tuple[str, str, str]]:
    """(stage, instruction, arguments), continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    stage = ""
    out = []
    for line in joined:
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stage = args.split()[-1]
        out.append((stage, instruction.upper(), args.strip()))
    return out


def image_environment() -> dict[str, str]:
    """The ``ENV`` of the image's last (runtime) stage."""
    stages = [s for s, i, _ in dockerfile_instructions() if i == "FROM"]
    env: dict[str, str] = {}
    for stage, instruction, args in dockerfile_instructions():
        if stage == stages[-1] and instruction == "ENV":
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                env[key] = value
    return env


@dataclass(frozen=True)
class Container:
    """One process the deployment starts from the Eenloket image."""

    where: str  # "compose ingest", "k8s Deployment/ingest"
    args: list[str]  # ["ingest", "serve"]
    env: dict[str, str]
    # Mount path -> writable? (volumes, tmpfs, emptyDir, claims)
    mounts: dict[str, bool]
    read_only_root: bool
    # variable -> key of the Secret it comes from (Kubernetes)
    secret_keys: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.args[0]


def compose_containers() -> list[Container]:
    compose = yaml.safe_load(COMPOSE.read_text())
    out = []
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        env = dict(image_environment())
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        env.update({k: str(v) for k, v in environment.items()})
        mounts: dict[str, bool] = {path: True for path in service.get("tmpfs", [])}
        for volume in service.get("volumes", []):
            parts = volume.split(":")
            mounts[parts[1]] = not (len(parts) > 2 and "ro" in parts[2].split(","))
        read_only = bool(service.get("read_only"))
        out.append(Container(f"compose {name}", list(service["command"]), env, mounts, read_only))
    return out


def k8s_containers(secrets: dict[str, str]) -> list[Container]:
    """Containers of every Deployment and Job, ``envFrom``/``valueFrom`` resolved: ConfigMaps
    from the manifests, Secret keys from ``secrets`` (a KeyError names a key it lacks, unless
    the reference is ``optional``: then, as on Kubernetes, the variable is not set)."""
    resources = k8s_resources()
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in resources if d["kind"] == "ConfigMap"
    }
    out = []
    for d in resources:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        pod = d["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            env = dict(image_environment())
            secret_keys = {}
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps[source["configMapRef"]["name"]])
                else:
                    assert source["secretRef"]["name"] == SECRET_NAME
                    env.update(secrets)
                    secret_keys.update({k: k for k in secrets})
            for e in c.get("env", []):
                if "value" in e:
                    env[e["name"]] = str(e["value"])
                elif "secretKeyRef" in e["valueFrom"]:
                    ref = e["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET_NAME, f"{e['name']}: unknown Secret {ref['name']}"
                    if ref.get("optional") and ref["key"] not in secrets:
                        continue
                    env[e["name"]] = secrets[ref["key"]]
                    secret_keys[e["name"]] = ref["key"]
                else:
                    ref = e["valueFrom"]["configMapKeyRef"]
                    env[e["name"]] = config_maps[ref["name"]][ref["key"]]
            mounts = {
                m["mountPath"]: not m.get("readOnly", False)
                and "configMap" not in volumes[m["name"]]
                and "secret" not in volumes[m["name"]]
                for m in c.get("volumeMounts", [])
            }
            out.append(
                Container(
                    where=f"k8s {d['kind']}/{d['metadata']['name']}",
                    args=list(c["args"]),
                    env=env,
                    mounts=mounts,
                    read_only_root=c["securityContext"]["readOnlyRootFilesystem"],
                    secret_keys=secret_keys,
                )
            )
    return out


def secrets_example() -> dict[str, str]:
    """deploy/k8s/secrets.env.example: the Secret's keys with placeholder values, in order."""
    lines = SECRETS_EXAMPLE.read_text().splitlines()
    pairs = (ln.split("=", 1) for ln in lines if ln.strip() and not ln.startswith("#"))
    return {key: value for key, value in pairs}


def optional_secrets_example() -> dict[str, str]:
    """The example's optional keys: commented out as ``#KEY=value`` (no space), to uncomment
    when the channel is used (a key present with an empty value would set it to "")."""
    found = re.findall(r"^#([A-Z][A-Z0-9_]*)=(.*)$", SECRETS_EXAMPLE.read_text(), re.MULTILINE)
    return dict(found)
