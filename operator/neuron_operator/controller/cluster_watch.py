"""The cluster's capacity as the operator keeps it: informers on nodes, pods and Karpenter
NodePools (controller/informer.py), each object reduced on receipt to what the decision needs
(controller/capacity.py), and the engine's `Capacity` built from them when a plan is made.

Read-only and cluster-wide, whatever namespaces the operator serves: a pod in any namespace
holds cores on a node. The chart grants list and watch on nodes, pods and nodepools only when
capacity-awareness is on (the operator setting `capacityAware`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kubernetes import client

from neuron_operator.controller.capacity import (
    NODEPOOL_GROUP,
    NODEPOOL_PLURAL,
    NODEPOOL_VERSION,
    TERMINAL_PHASES,
    PodClaim,
    build_capacity,
    node_capacity,
    node_pool,
    pod_claim,
)
from neuron_operator.controller.fallback import Cluster, fingerprint, waiting_of
from neuron_operator.controller.informer import Informer, Key
from neuron_operator.sizing.capacity import Capacity, NodeCapacity, NodePool

# Pods that finished hold nothing; the API server filters them out of the watch.
LIVE_PODS = ",".join(f"status.phase!={phase}" for phase in TERMINAL_PHASES)


class ClusterWatch:
    """`waiting_changed(namespace, name)` is told when the operator's own pods of that
    NeuronDeployment start or stop waiting for a node."""

    def __init__(
        self,
        api: client.ApiClient,
        waiting_changed: Callable[[str, str], None] = lambda *_: None,
    ) -> None:
        self.waiting_changed = waiting_changed
        self.nodes: Informer[NodeCapacity] = Informer(api, "/api/v1/nodes", node_capacity)
        self.pods: Informer[PodClaim] = Informer(
            api, "/api/v1/pods", pod_claim, LIVE_PODS, changed=self._pod_changed
        )
        self.node_pools: Informer[NodePool] = Informer(
            api, f"/apis/{NODEPOOL_GROUP}/{NODEPOOL_VERSION}/{NODEPOOL_PLURAL}", node_pool
        )
        # The operator's own pods, by NeuronDeployment: the wait is asked of one object.
        self._owned: dict[Key, set[Key]] = {}
        self._guard = threading.Lock()
        self._built: tuple[tuple[int, int, int], Capacity | None, str] | None = None

    def start(self) -> None:
        for informer in (self.nodes, self.pods, self.node_pools):
            informer.start()

    def stop(self) -> None:
        for informer in (self.nodes, self.pods, self.node_pools):
            informer.stop()

    def kept(self) -> dict[str, int]:
        """How many of each kind the informers keep (for the metrics)."""
        return {"nodes": len(self.nodes), "pods": len(self.pods), "nodepools": len(self.node_pools)}

    def synced(self) -> bool:
        """Whether each informer has listed once (NodePools: or found their CRD absent)."""
        return all(i.served is not None for i in (self.nodes, self.pods, self.node_pools))

    def _pod_changed(self, key: Key, before: PodClaim | None, after: PodClaim | None) -> None:
        claim = after or before
        if claim is None or not claim.owner:
            return
        owner = (key[0], claim.owner)
        with self._guard:
            pods = self._owned.setdefault(owner, set())
            if after is None:
                pods.discard(key)
                if not pods:
                    del self._owned[owner]
            else:
                pods.add(key)
        was = before.unschedulable_since if before else ""
        now = after.unschedulable_since if after else ""
        if was != now:
            self.waiting_changed(*owner)

    def _capacity(self) -> tuple[Capacity | None, str]:
        """The engine's Capacity, rebuilt only when an informer changed; None when the cluster
        shows nothing to plan against (no Neuron node, no Karpenter): nodes that an autoscaler
        makes from zero are invisible until then, and planning against the catalog alone is
        the better guess than refusing every type."""
        versions = (self.nodes.version, self.pods.version, self.node_pools.version)
        built = self._built
        if built is not None and built[0] == versions:
            return built[1], built[2]
        nodes = self.nodes.items()
        pools = self.node_pools.items() if self.node_pools.served else None
        capacity = (
            None if not nodes and pools is None else build_capacity(nodes, self.pods.items(), pools)
        )
        result = (versions, capacity, fingerprint(nodes, pools))
        self._built = result
        return result[1], result[2]

    def cluster(self, namespace: str, name: str) -> Cluster | None:
        """What the cluster says for one NeuronDeployment's reconcile; None until the informers
        have listed (or when there is nothing to plan against)."""
        if not self.synced():
            return None
        capacity, fingerprint_now = self._capacity()
        if capacity is None:
            return None
        with self._guard:
            keys = list(self._owned.get((namespace, name), ()))
        claims = [c for c in map(self.pods.get, keys) if c is not None]
        return Cluster(capacity, fingerprint_now, waiting_of(claims))
