"""The startup probe from the plan (issue 13, point 5): a probed model server gets the time its
weights take to load (and to compile, unless an artifact is given), with its own check; a
template's startupProbe, or an unprobed server, is left as it is."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes import FakeKube

from neuron_operator.controller.probes import (
    BASE_SECONDS,
    COMPILE_SECONDS_PER_GIB,
    LOAD_BYTES_PER_SECOND,
    PERIOD_SECONDS,
    startup_probe,
    startup_seconds,
)
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.settings import Settings
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import GIB

READY = {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 5}
SERVER: dict[str, Any] = {"name": "server", "image": "s:1", "readinessProbe": READY}
LLAMA_70B: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "70B", "sequenceLength": 4096},
    "objective": "cost",
    "template": {"spec": {"containers": [SERVER]}},
}


def test_the_budget_is_the_weights_load_and_compile_time() -> None:
    result = plan(LLAMA_70B)
    assert result.memory is not None
    weights = result.memory.weights_gib
    loaded = BASE_SECONDS + weights * GIB / LOAD_BYTES_PER_SECOND
    assert startup_seconds(result, precompiled=True) == int(loaded) + 1
    assert startup_seconds(result, precompiled=False) >= loaded + weights * COMPILE_SECONDS_PER_GIB
    small = plan({**LLAMA_70B, "model": {**LLAMA_70B["model"], "parameters": "1B"}})
    assert startup_seconds(small, precompiled=False) < startup_seconds(result, precompiled=False)


def test_the_probe_uses_the_servers_own_check_and_lets_it_load() -> None:
    result = plan(LLAMA_70B)
    probe = startup_probe(copy.deepcopy(SERVER), result, precompiled=True)
    assert probe is not None
    assert probe["httpGet"] == READY["httpGet"]
    allowed = probe["failureThreshold"] * probe["periodSeconds"]
    assert probe["periodSeconds"] == PERIOD_SECONDS
    assert allowed >= startup_seconds(result, precompiled=True) > 10 * 60  # 70B: many minutes


def test_a_templates_own_startup_probe_or_an_unprobed_server_is_left_alone() -> None:
    result = plan(LLAMA_70B)
    own = {**SERVER, "startupProbe": {"tcpSocket": {"port": 1}}}
    assert startup_probe(own, result, precompiled=False) is None
    assert startup_probe({"name": "s", "image": "s:1"}, result, precompiled=False) is None


def test_the_rendered_server_gets_it() -> None:
    body = {"metadata": {"name": "l", "namespace": "ml", "uid": "u", "generation": 1}}
    body["spec"] = copy.deepcopy(LLAMA_70B)
    kube = FakeKube(body)
    reconcile(kube, copy.deepcopy(body), None, Settings(), lambda _: None, lambda: "t")
    assert kube.deployment is not None
    (server,) = kube.deployment["spec"]["template"]["spec"]["containers"]
    assert server["startupProbe"]["httpGet"] == READY["httpGet"]
    assert server["readinessProbe"] == READY
