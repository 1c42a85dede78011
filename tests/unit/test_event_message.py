"""Event messages fit the API server's bound (1,024 bytes), or the event is never posted (the
chaos suite's B6: a MaxReplicasExceeded warning of ~1.3 KB was refused with 422)."""

from __future__ import annotations

from neuron_operator.controller.status import MAX_EVENT_MESSAGE_BYTES, event_message


def test_a_message_that_fits_is_unchanged() -> None:
    message = "x" * MAX_EVENT_MESSAGE_BYTES
    assert event_message(message) == message


def test_a_long_message_keeps_its_head_within_the_bound_in_whole_characters() -> None:
    message = "spec generation 2 not applied: " + "1 × 2 NeuronCore(s) " * 100
    shown = event_message(message)
    assert len(shown.encode()) <= MAX_EVENT_MESSAGE_BYTES
    assert shown.startswith("spec generation 2 not applied: 1 × 2")
    assert shown.endswith("(truncated)")
    assert "\ufffd" not in shown  # no multi-byte character cut in half
