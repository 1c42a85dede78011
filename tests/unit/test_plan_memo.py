"""The engine keeps what depends only on the model and the catalog's core shapes across
searches (candidate.shared_memo), for speed (issue 15). The answer must not change: every plan
of the benchmark corpus, made after the memo has seen every other model in a shuffled order,
is the plan a fresh memo makes — with list prices and with your prices, and without
LeaderWorkerSet."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from bench.plan_bench import corpus

from neuron_operator.api.pricing import PricingSettings
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing import choose, load_catalog, plan
from neuron_operator.sizing.candidate import Memo, shared_memo
from neuron_operator.sizing.catalog import Catalog
from neuron_operator.sizing.checks import CANDIDATE_STEPS, candidate_steps
from neuron_operator.sizing.pricing import priced
from neuron_operator.sizing.profile import build_profile

PRICES = {"discounts": {"inf2": 0.6}, "instanceTypes": {"trn2.48xlarge": {"onDemand": 40.0}}}


def catalogs() -> dict[str, Catalog]:
    ours = priced(load_catalog(), PricingSettings.model_validate(PRICES), "test")
    return {"list prices": load_catalog(), "your prices": ours}


def answer(spec: dict[str, Any], catalog: Catalog, groups: bool) -> str:
    return json.dumps(
        plan(spec, catalog, leader_worker_set=groups).model_dump(mode="json"), sort_keys=True
    )


@pytest.mark.parametrize("groups", [True, False], ids=["lws", "no-lws"])
@pytest.mark.parametrize("prices", ["list prices", "your prices"])
def test_a_shared_memo_gives_the_plans_a_fresh_one_gives(
    prices: str, groups: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = catalogs()[prices]
    specs = corpus()
    with monkeypatch.context() as patched:  # every search with a Memo of its own
        patched.setattr(choose, "shared_memo", Memo)
        fresh = [answer(spec, catalog, groups) for spec in specs]
    shared_memo.cache_clear()
    order = list(range(len(specs)))
    random.Random(15).shuffle(order)
    shared = {i: answer(specs[i], catalog, groups) for i in order}
    changed = [specs[i] for i in range(len(specs)) if shared[i] != fresh[i]]
    assert not changed, f"{len(changed)} plans changed, first: {changed[0]}"
    assert shared_memo.cache_info().hits > 0  # the memo was shared


def test_the_memo_is_bounded() -> None:
    assert shared_memo.cache_info().maxsize is not None


# Specs that give every candidate check something to refuse: an artifact's tensor-parallel
# degree, a latency SLO, a budget, a replica cap, training across nodes.
EVERY_CHECK: list[dict[str, Any]] = [
    {
        "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 4096},
        "compiled": {"tensorParallelDegree": 8, "batchSize": 4, "sequenceLength": 4096},
    },
    {
        "model": {"family": "transformer-decoder", "parameters": "70B"},
        "slo": {"latencyMs": 2000, "throughput": 30},
        "budget": {"maxHourlyCost": 60},
        "constraints": {"maxReplicas": 4},
    },
    {
        "workload": "training",
        "model": {"family": "transformer-decoder", "parameters": "8B"},
        "slo": {"throughput": 400},
    },
]


@pytest.mark.parametrize("groups", [True, False], ids=["lws", "no-lws"])
def test_leaving_out_checks_that_pass_everything_changes_no_plan(
    groups: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search runs only the candidate checks its spec gives something to check
    (checks.candidate_steps): every plan is the one the whole chain gives."""
    catalog = load_catalog()
    specs = corpus() + EVERY_CHECK
    fewer = [answer(spec, catalog, groups) for spec in specs]
    with monkeypatch.context() as patched:
        patched.setattr(choose, "candidate_steps", lambda spec, memo: CANDIDATE_STEPS)
        shared_memo.cache_clear()
        whole = [answer(spec, catalog, groups) for spec in specs]
    changed = [specs[i] for i in range(len(specs)) if fewer[i] != whole[i]]
    assert not changed, f"{len(changed)} plans changed, first: {changed[0]}"
    skipped = {
        check
        for spec in specs
        for _, check in CANDIDATE_STEPS
        if check not in {c for _, c in candidate_steps(parse(spec), shared(spec, groups))}
    }
    assert skipped, "no check was ever left out: the comparison says nothing"


def parse(spec: dict[str, Any]) -> NeuronDeploymentSpec:
    return NeuronDeploymentSpec.model_validate(spec)


def shared(spec: dict[str, Any], groups: bool) -> Memo:
    parsed = parse(spec)
    return shared_memo(build_profile(parsed.model, parsed.workload), groups)
