"""Replicas across nodes (issue 13, point 2, the engine's part): a model too large for one
node's memory is planned tensor parallel over each node and pipeline parallel across 2..8 nodes
of one EFA-capable type, with the hops between stages counted; where the cluster has no
LeaderWorkerSet to run such a group, the plan says so."""

from __future__ import annotations

from typing import Any

from tests.helpers import example_spec

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelSpec, Workload
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import InstanceType, load_catalog
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.memory import check_memory
from neuron_operator.sizing.performance import estimate
from neuron_operator.sizing.profile import build_profile

ON_TRN1 = example_spec("llama-3.1-405b")  # latency, trn1 only
LLAMA_405B: dict[str, Any] = ON_TRN1["model"]


def instance(name: str) -> InstanceType:
    found = load_catalog().get(name)
    assert found is not None
    return found


def test_a_405b_model_spans_two_whole_trn1_32xlarge_nodes_per_replica() -> None:
    result = plan(ON_TRN1)
    assert result.feasible and result.instance_type == "trn1.32xlarge"
    assert result.nodes_per_replica == 2
    assert result.nodes == (result.replicas or 0) * 2
    assert result.parallelism is not None
    assert result.parallelism.mode == ParallelismMode.TENSOR
    assert result.parallelism.degree == result.cores_per_replica == 32
    assert result.memory is not None and result.memory.required_gib <= 512


def test_without_leaderworkerset_the_plan_says_it_is_needed() -> None:
    result = plan(ON_TRN1, leader_worker_set=False)
    assert not result.feasible
    first = result.reasons[0]
    assert first.reason == "LeaderWorkerSetNotInstalled"
    assert "needs LeaderWorkerSet (not installed)" in first.message


def test_a_model_one_node_holds_never_spans_nodes() -> None:
    result = plan({**ON_TRN1, "model": {**LLAMA_405B, "parameters": "70B", "layers": 80}})
    assert result.feasible and result.nodes_per_replica is None
    assert all(a.nodes_per_replica is None for a in result.alternatives)


def test_sizes_without_efa_never_span_nodes() -> None:
    result = plan({**ON_TRN1, "constraints": {"instanceTypes": ["inf2.48xlarge"]}})
    assert not result.feasible
    inf2 = [r for r in result.rejections() if r.instance_type == "inf2.48xlarge"]
    assert "ExceedsMemory" in {r.reason for r in inf2}
    assert "LeaderWorkerSetNotInstalled" not in {r.reason for r in result.rejections()}
    assert max(r.cores_per_replica or 0 for r in inf2) <= 24  # never more than one node


def test_each_stage_holds_its_share_of_the_weights_and_cache() -> None:
    profile = build_profile(ModelSpec.model_validate(LLAMA_405B), Workload.INFERENCE)
    trn1 = instance("trn1.32xlarge")
    whole = check_memory(profile, trn1, 32, 1, 4)
    half = check_memory(profile, trn1, 32, 1, 4, stages=2)
    assert half.weights == whole.weights / 2 and half.kv_cache == whole.kv_cache / 2
    assert not whole.fits and half.fits


def test_each_hop_between_nodes_costs_time() -> None:
    profile = build_profile(ModelSpec.model_validate(LLAMA_405B), Workload.INFERENCE)
    trn1 = instance("trn1.32xlarge")

    def tpot(nodes: int) -> float:
        grouping = Grouping(ParallelismMode.TENSOR, 32, 1, nodes)
        found = estimate(profile, trn1, grouping, 1, 2).tpot_ms
        assert found is not None
        return found

    assert tpot(2) < tpot(3) < tpot(4)
