"""The watch audit's list (controller/kube.py `list_versions`) on the real API server: metadata
only, page after page with the server's continue token, filtered by label and namespace."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from neuron_operator.controller.kube import Kube

CONFIG_MAPS = ("/api/v1", "configmaps")


def test_every_page_is_read_and_only_what_the_selector_names(kube: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    made = {}
    for index in range(5):
        body = core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"ours-{index}", labels={"audit": "yes"})
            ),
        )
        made[(namespace, f"ours-{index}")] = int(body.to_dict()["metadata"]["resource_version"])
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="not-ours"))
    )

    found = Kube(kube, "audit-test").list_versions(
        CONFIG_MAPS, (namespace,), "audit=yes", page_size=2
    )

    # Three pages of two, one and nothing else: every object once, at the version it has.
    assert found == made


def test_no_namespaces_lists_the_whole_cluster(kube: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    body = core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="anywhere", labels={"audit": "all"})),
    )

    found = Kube(kube, "audit-test").list_versions(CONFIG_MAPS, (), "audit=all", page_size=1)

    assert found == {(namespace, "anywhere"): int(body.to_dict()["metadata"]["resource_version"])}
