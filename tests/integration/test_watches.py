"""The operator's own watches and events on the real API server (controller/informer.py's
EventInformer, controller/events.py): every event typed as the watch types it, what a list
found untyped, an object deleted between two lists handed on as deleted, and an Event the
server accepts, and a repeat of it counted on it."""

from __future__ import annotations

import queue
from typing import Any

from kubernetes import client

from neuron_operator.controller.events import EventPoster
from neuron_operator.controller.informer import EventInformer
from neuron_operator.controller.kube import Kube

# A bound on waiting for the server's watch events, not a measure of speed.
DELIVERY = 30.0


def config_map(core: client.CoreV1Api, namespace: str, name: str, labels: dict[str, str]) -> None:
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )


def informer_of(kube: Any, namespace: str, events: Any) -> EventInformer:
    return EventInformer(
        kube,
        f"/api/v1/namespaces/{namespace}/configmaps",
        "v1",
        "ConfigMap",
        lambda type, body: events.put((type, body)),
        label_selector="watched=yes",
    )


def test_events_come_typed_and_only_for_the_selected(kube: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    config_map(core, namespace, "before", {"watched": "yes"})
    events: queue.Queue[tuple[str | None, dict[str, Any]]] = queue.Queue()
    informer = informer_of(kube, namespace, events)
    informer.start()
    try:
        kind, body = events.get(timeout=DELIVERY)
        # Found by the list: no type, and the kind a list item lacks is filled in.
        assert (kind, body["metadata"]["name"]) == (None, "before")
        assert (body["apiVersion"], body["kind"]) == ("v1", "ConfigMap")
        assert informer.synced.wait(DELIVERY)
        config_map(core, namespace, "ignored", {"watched": "no"})
        config_map(core, namespace, "after", {"watched": "yes"})
        core.patch_namespaced_config_map("after", namespace, {"data": {"a": "1"}})
        core.delete_namespaced_config_map("after", namespace)
        seen = [events.get(timeout=DELIVERY) for _ in range(3)]
        assert [(k, b["metadata"]["name"]) for k, b in seen] == [
            ("ADDED", "after"),
            ("MODIFIED", "after"),
            ("DELETED", "after"),
        ]
        assert seen[1][1]["data"] == {"a": "1"}
        assert events.empty()  # nothing of "ignored"
    finally:
        informer.stop()


def test_an_object_deleted_between_two_lists_is_handed_on_as_deleted(
    kube: Any, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    config_map(core, namespace, "kept", {"watched": "yes"})
    config_map(core, namespace, "gone", {"watched": "yes"})
    events: queue.Queue[tuple[str | None, dict[str, Any]]] = queue.Queue()
    informer = informer_of(kube, namespace, events)
    informer._list()  # as the informer's thread lists, without its watch
    assert sorted(events.get_nowait()[1]["metadata"]["name"] for _ in range(2)) == ["gone", "kept"]
    core.delete_namespaced_config_map("gone", namespace)

    informer._list()  # again, as after the watch's version expired (410)

    found = [events.get_nowait() for _ in range(events.qsize())]
    assert [(k, b["metadata"]["name"]) for k, b in found] == [(None, "kept"), ("DELETED", "gone")]
    gone = found[1][1]
    assert gone["kind"] == "ConfigMap" and gone["metadata"]["namespace"] == namespace


def test_an_event_the_server_accepts_and_a_repeat_counted_on_it(kube: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    config_map(core, namespace, "subject", {})
    subject = core.read_namespaced_config_map("subject", namespace).to_dict()
    involved = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "subject",
            "namespace": namespace,
            "uid": subject["metadata"]["uid"],
            "resourceVersion": subject["metadata"]["resource_version"],
        },
    }
    poster = EventPoster(Kube(kube, "events-test"), "pod-a")

    poster.post(involved, "Warning", "NotPlanned", "no instance fits")
    poster.post(involved, "Warning", "NotPlanned", "no instance fits")
    poster.drain()

    listed = core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=subject"
    ).to_dict()["items"]
    assert [
        (e["type"], e["reason"], e["message"], e["source"]["component"], e["count"]) for e in listed
    ] == [("Warning", "NotPlanned", "no instance fits", "neuron-operator", 2)]
    assert listed[0]["involved_object"]["uid"] == subject["metadata"]["uid"]
