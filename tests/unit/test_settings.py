"""Operator settings: flags over environment over defaults."""

from __future__ import annotations

import pytest

from neuron_operator.cli import build_parser
from neuron_operator.controller.enginefault import EngineFault, EngineFaultInjected, parse
from neuron_operator.controller.settings import Settings


def test_defaults_watch_everything() -> None:
    settings = Settings()
    assert settings.namespaces == ()
    assert settings.scheduler_name is None
    assert (settings.log_format, settings.liveness_port, settings.metrics_port) == (
        "text",
        8080,
        8081,
    )


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_OPERATOR_NAMESPACES", "ml, serving ,")
    monkeypatch.setenv("NEURON_OPERATOR_SCHEDULER_NAME", "neuron-scheduler")
    monkeypatch.setenv("NEURON_OPERATOR_LOG_FORMAT", "json")
    monkeypatch.setenv("NEURON_OPERATOR_LIVENESS_PORT", "9090")
    monkeypatch.setenv("NEURON_OPERATOR_METRICS_PORT", "9091")
    monkeypatch.setenv("NEURON_OPERATOR_WATCH_STALL_SECONDS", "60")
    settings = Settings.from_env()
    assert settings.namespaces == ("ml", "serving")
    assert settings.scheduler_name == "neuron-scheduler"
    assert (settings.log_format, settings.liveness_port) == ("json", 9090)
    assert (settings.metrics_port, settings.watch_stall_seconds) == (9091, 60.0)


def test_flags_win_over_environment_and_absent_flags_change_nothing() -> None:
    base = Settings(namespaces=("ml",), log_format="json", metrics_port=9091)
    settings = base.overridden(namespaces=["a", "b"], log_format=None, metrics_port=7000)
    assert settings.namespaces == ("a", "b")
    assert (settings.log_format, settings.metrics_port) == ("json", 7000)


def test_run_flags() -> None:
    args = build_parser().parse_args(
        ["run", "-n", "a", "-n", "b", "--scheduler-name", "s", "--log-format", "json"]
    )
    assert (args.namespace, args.scheduler_name, args.log_format) == (["a", "b"], "s", "json")


def test_a_variable_that_does_not_parse_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_OPERATOR_PEERING_LIFETIME", "soon")
    with pytest.raises(ValueError, match="NEURON_OPERATOR_PEERING_LIFETIME='soon': not a number"):
        Settings.from_env()


def test_engine_faults_parse_or_name_the_variable() -> None:
    assert parse("slow=2.5:slow-") == EngineFault("slow-", 2.5)
    assert parse("raise:bad-") == EngineFault("bad-", None)
    for wrong in ("slow:x", "slow=-1:x", "raise:", "explode:x", "slow=fast:x"):
        with pytest.raises(ValueError, match="NEURON_OPERATOR_ENGINE_FAULT"):
            parse(wrong)


def test_an_injected_engine_fault_touches_only_its_objects() -> None:
    fault = parse("raise:bad-")
    fault.before_plan("good")  # nothing happens
    with pytest.raises(EngineFaultInjected):
        fault.before_plan("bad-1")
