"""Sizing a training run (issue 13, point 1): every step sums the data-parallel gradients, over
NeuronLink within a node and EFA across nodes; sizes without EFA cannot span nodes; a run takes
whole nodes; so a throughput target is met with the fewest, largest nodes."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelSpec, Workload
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import InstanceType, load_catalog
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.performance import (
    CONSTANTS,
    DataParallel,
    estimate,
    gradient_sync_ms,
)
from neuron_operator.sizing.profile import build_profile

CATALOG = load_catalog()


def instance(name: str) -> InstanceType:
    found = CATALOG.get(name)
    assert found is not None
    return found


TRN1_32XL = instance("trn1.32xlarge")
TRN1_2XL = instance("trn1.2xlarge")
V2 = replace(CONSTANTS["v2"], collective_latency_us=0.0)  # bandwidth terms only, by hand
BERT_LARGE = build_profile(
    ModelSpec.model_validate(
        {
            "family": "transformer-encoder",
            "parameters": "335M",
            "layers": 24,
            "hiddenSize": 1024,
            "attentionHeads": 16,
            "sequenceLength": 128,
        }
    ),
    Workload.TRAINING,
)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bert-large-training.yaml"
DP32 = Grouping(ParallelismMode.DATA, 1, 32)


def training(**spec: Any) -> dict[str, Any]:
    base = yaml.safe_load(EXAMPLE.read_text())["spec"]
    return {**base, **spec}


def test_the_gradient_all_reduce_is_a_neuronlink_ring_then_an_efa_ring() -> None:
    gradients = BERT_LARGE.parameters * BERT_LARGE.bytes_per_weight
    one_node = gradient_sync_ms(BERT_LARGE, TRN1_32XL, DP32, DataParallel(1, 32), V2)
    assert math.isclose(one_node, 1e3 * 2 * 31 / 32 * gradients / (V2.collective_gbps * 1e9))
    four = gradient_sync_ms(BERT_LARGE, TRN1_32XL, DP32, DataParallel(4, 32), V2)
    efa = 800e9 / 8 * V2.efa_efficiency  # trn1.32xlarge: 800 Gbps of EFA
    assert math.isclose(four - one_node, 1e3 * 2 * 3 / 4 * gradients / efa)
    # Summed once per optimizer step: accumulating micro-batches divides it.
    assert math.isclose(
        gradient_sync_ms(BERT_LARGE, TRN1_32XL, DP32, DataParallel(4, 32, 8), V2), four / 8
    )
    # Tensor parallelism splits each core's share of the ring inside the node, not the
    # model copy's gradients that cross the network.
    tp8 = Grouping(ParallelismMode.TENSOR, 8, 4)
    inside = gradient_sync_ms(BERT_LARGE, TRN1_32XL, tp8, DataParallel(1, 4), V2)
    assert math.isclose(inside, 1e3 * 2 * 3 / 4 * gradients / 8 / (V2.collective_gbps * 1e9))


def test_no_network_for_collectives_means_no_second_node() -> None:
    no_network = replace(TRN1_2XL, network_gbps=None)
    assert gradient_sync_ms(BERT_LARGE, no_network, DP32, DataParallel(2, 2), V2) == math.inf
    assert gradient_sync_ms(BERT_LARGE, no_network, DP32, DataParallel(1, 2), V2) < math.inf


def test_more_nodes_are_slower_per_node() -> None:
    def per_node(nodes: int) -> float:
        layout = DataParallel(nodes, 32)
        return estimate(BERT_LARGE, TRN1_32XL, DP32, 16, 2, layout=layout).throughput_per_replica

    speeds = [per_node(n) for n in (1, 2, 8, 32)]
    assert speeds == sorted(speeds, reverse=True)
    assert speeds[-1] < speeds[0]


def test_the_demo_run_takes_whole_trn1_32xlarge_nodes_not_a_fleet_of_small_ones() -> None:
    result = plan(training())
    assert result.feasible and result.instance_type == "trn1.32xlarge"
    assert result.nodes is not None and result.nodes > 1
    # Whole nodes: every core of every node is a rank.
    assert result.replicas == result.nodes * (result.replicas_per_node or 0)
    assert (result.replicas_per_node or 0) * (result.cores_per_replica or 0) == 32
    small = [r for r in result.rejections() if r.instance_type == "trn1.2xlarge"]
    assert small and {r.reason for r in small} == {"MultiNodeNeedsEfa"}
    assert "needs EFA, which trn1.2xlarge lacks" in small[0].message


def test_a_target_one_small_node_meets_stays_on_one_small_node() -> None:
    result = plan(training(slo={"throughput": 50}))
    assert result.feasible and result.instance_type == "trn1.2xlarge"
    assert result.nodes == 1


def test_the_all_reduce_costs_nodes_the_compute_alone_would_not() -> None:
    """The nodes the plan asks for deliver the target with the all-reduce counted, and so
    (the ring across nodes costing time) more than the first node's speed times the nodes."""
    target = 20_000
    result = plan(training(slo={"throughput": target}))
    assert result.feasible and result.nodes is not None and result.estimate is not None
    assert result.estimate.throughput_range.low >= target
    one_node = plan(training(slo={"throughput": 1}, overrides={"instanceType": "trn1.32xlarge"}))
    assert one_node.estimate is not None and one_node.nodes == 1
    assert result.estimate.throughput / result.nodes < one_node.estimate.throughput


def test_too_many_nodes_is_refused_with_what_they_would_reach() -> None:
    result = plan(training(slo={"throughput": 10_000_000}))
    assert not result.feasible
    reasons = {r.reason for r in result.rejections() if r.instance_type == "trn1.32xlarge"}
    assert "MaxReplicasExceeded" in reasons
