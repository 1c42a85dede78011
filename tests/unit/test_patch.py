"""merge_patch against RFC 7386's own algorithm (tests/fakes.apply_merge_patch)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.fakes import apply_merge_patch

from neuron_operator.controller.patch import merge_patch

KEYS = st.sampled_from(["a", "b", "c", "plan", "estimate"])
NULL_FREE_LEAVES = st.booleans() | st.integers() | st.text(max_size=3)


def documents(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    values = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=6,
    )
    return st.dictionaries(KEYS, values, max_size=4)


@given(documents(NULL_FREE_LEAVES), documents(NULL_FREE_LEAVES))
def test_the_patch_turns_current_into_desired(current: dict[str, Any], desired: Any) -> None:
    assert apply_merge_patch(current, merge_patch(current, desired)) == desired


@given(documents(NULL_FREE_LEAVES))
def test_equal_documents_need_no_patch(document: dict[str, Any]) -> None:
    assert merge_patch(document, document) == {}


def test_nested_keys_that_disappear_are_nulled_where_they_live() -> None:
    current = {"plan": {"estimate": {"latencyMs": 1.0, "timePerOutputTokenMs": 2.0}}, "x": 1}
    desired = {"plan": {"estimate": {"latencyMs": 1.0}}, "x": 1}
    assert merge_patch(current, desired) == {"plan": {"estimate": {"timePerOutputTokenMs": None}}}
