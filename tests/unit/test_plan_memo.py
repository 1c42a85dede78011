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
from neuron_operator.sizing import choose, load_catalog, plan
from neuron_operator.sizing.candidate import Memo, shared_memo
from neuron_operator.sizing.catalog import Catalog
from neuron_operator.sizing.pricing import priced

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
