"""The Kubernetes manifests are valid for the API server and the Strimzi operator we name.

Kubernetes resources against the Kubernetes schemas (the ``kubernetes-validate`` package,
strict: an unknown field is an error, as a typo would silently do nothing); the Strimzi
resources against the CRD schemas of the Strimzi release vendored in deploy/k8s/crds/.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.unit.deploy_files import K8S, k8s_resources, yaml_documents

KUBERNETES_VERSION = "1.34.0"  # the oldest we support; kubernetes-validate ships its schemas
STRIMZI_VERSION = "1.2.0"  # deploy/k8s/crds/README.md: where the CRDs come from
STRIMZI_GROUP = "kafka.strimzi.io"

RESOURCES = k8s_resources()


def _name(d: dict[str, Any]) -> str:
    return f"{d['kind']}/{d['metadata']['name']}"


def _strimzi_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of every version the CRDs serve."""
    schemas = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        for crd in yaml_documents(path):
            spec = crd["spec"]
            for version in spec["versions"]:
                if version["served"]:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = _closed(version["schema"]["openAPIV3Schema"])
    return schemas


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields refused where the API server would prune them (a field
    the operator never sees is a mistake, not a no-op)."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    # metadata is the API server's ObjectMeta, not described by the CRD.
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


STRIMZI = _strimzi_schemas()


def test_the_vendored_crds_are_the_named_strimzi_release():
    readme = (K8S / "crds" / "README.md").read_text()
    assert f"**{STRIMZI_VERSION}**" in readme
    assert {kind for _, kind in STRIMZI} >= {"Kafka", "KafkaNodePool", "KafkaTopic"}


@pytest.mark.parametrize(
    "resource",
    [d for d in RESOURCES if not d["apiVersion"].startswith(STRIMZI_GROUP)],
    ids=_name,
)
def test_kubernetes_resources_are_valid_for_the_kubernetes_version(resource: dict[str, Any]):
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "resource", [d for d in RESOURCES if d["apiVersion"].startswith(STRIMZI_GROUP)], ids=_name
)
def test_strimzi_resources_are_valid_for_the_strimzi_release(resource: dict[str, Any]):
    key = (resource["apiVersion"], resource["kind"])
    assert key in STRIMZI, f"Strimzi {STRIMZI_VERSION} serves no {key}"
    jsonschema.validate(resource, STRIMZI[key])


def test_the_validators_refuse_what_they_should():
    """A misspelt field fails both checks (so a pass above means something)."""
    deployment = copy.deepcopy(next(d for d in RESOURCES if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["envfrom"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    topic = copy.deepcopy(next(d for d in RESOURCES if d["kind"] == "KafkaTopic"))
    topic["spec"]["replica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, STRIMZI[(topic["apiVersion"], "KafkaTopic")])
    topic["spec"].pop("replica")
    topic["spec"]["partitions"] = "twelve"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, STRIMZI[(topic["apiVersion"], "KafkaTopic")])
