"""The operator's object store: the newest version wins, whoever delivered it."""

from __future__ import annotations

from typing import Any

from neuron_operator.controller.store import Store


def obj(version: str, name: str = "bert", **extra: Any) -> dict[str, Any]:
    metadata = {"namespace": "ml", "name": name, "resourceVersion": version}
    return {"metadata": {**metadata, **extra}, "status": {"seen": version}}


def test_unknown_object_tells_the_caller_to_ask_the_api_server() -> None:
    assert Store().get("ml", "bert") == (False, None)


def test_newer_version_replaces_older() -> None:
    store = Store()
    store.observe(obj("5"))
    store.observe(obj("7"))
    assert store.get("ml", "bert")[1] == obj("7")


def test_a_late_watch_event_does_not_replace_our_own_newer_write() -> None:
    store = Store()
    store.observe(obj("9"))  # the response to our status patch
    store.observe(obj("8"))  # the watch event of the version before it, still in flight
    known, body = store.get("ml", "bert")
    assert known and body is not None and body["status"] == {"seen": "9"}


def test_versions_compare_as_numbers_not_text() -> None:
    store = Store()
    store.observe(obj("99"))
    store.observe(obj("100"))
    assert store.get("ml", "bert")[1] == obj("100")


def test_deleted_object_is_known_absent_until_recreated() -> None:
    store = Store()
    store.observe(obj("5"))
    store.forget(obj("6"))
    assert store.get("ml", "bert") == (True, None)
    store.observe(obj("6"))  # a late event of the deleted object changes nothing
    assert store.get("ml", "bert") == (True, None)
    store.observe(obj("10"))  # created again
    assert store.get("ml", "bert")[1] == obj("10")


def test_late_delete_of_an_older_version_keeps_the_recreated_object() -> None:
    store = Store()
    store.observe(obj("12"))
    store.forget(obj("11"))
    assert store.get("ml", "bert")[1] == obj("12")


def test_opaque_versions_are_not_kept_so_the_caller_reads_the_api_server() -> None:
    store = Store()
    store.observe(obj("not-a-number"))
    assert store.get("ml", "bert") == (False, None)


def test_managed_fields_keep_only_who_wrote_and_the_input_is_not_changed() -> None:
    entry = {
        "manager": "kubectl",
        "operation": "Update",
        "time": "2026-11-29T00:00:00Z",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    given = obj("3", managedFields=[entry])
    store = Store()
    store.observe(given)
    kept = store.get("ml", "bert")[1]
    assert kept is not None
    assert kept["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Update",
            "time": "2026-11-29T00:00:00Z",
            "spec": True,
            "replicas": True,
        }
    ]
    assert given["metadata"]["managedFields"] == [entry]


def test_objects_are_kept_per_namespace_and_name() -> None:
    store = Store()
    store.observe(obj("1", name="a"))
    store.observe(obj("2", name="b"))
    assert len(store) == 2
    assert store.get("ml", "a")[1] == obj("1", name="a")
    assert store.get("other", "a") == (False, None)


def test_our_write_waits_for_its_watch_echo() -> None:
    store = Store()
    store.wrote(obj("4"), at=100.0)
    store.wrote(obj("6"), at=130.0)  # the oldest waiting write is the one that counts
    assert store.oldest_unechoed() == (("ml", "bert"), 100.0)
    store.observe(obj("4"))  # the older write is echoed; the newer one still waits
    assert store.oldest_unechoed() == (("ml", "bert"), 130.0)
    store.observe(obj("7"))  # the watch has passed the newest write
    assert store.oldest_unechoed() is None


def test_a_deleted_object_waits_for_no_echo() -> None:
    store = Store()
    store.wrote(obj("4"), at=1.0)
    store.forget(obj("5"))
    assert store.oldest_unechoed() is None


def test_the_oldest_waiting_write_across_objects() -> None:
    store = Store()
    store.wrote(obj("4", name="a"), at=20.0)
    store.wrote(obj("5", name="b"), at=10.0)
    assert store.oldest_unechoed() == (("ml", "b"), 10.0)


def test_each_object_keeps_its_summary_and_readers_get_their_own_copy() -> None:
    store = Store(summarize=lambda body: body["status"]["seen"])
    store.observe(obj("4", name="a"))
    store.observe(obj("5", name="b"))
    assert sorted(store.summaries()) == ["4", "5"]
    first = store.get("ml", "a")[1]
    assert first is not None
    first["status"]["seen"] = "changed by a reader"
    assert store.get("ml", "a")[1] == obj("4", name="a")


def test_versions_a_list_found_must_come_on_the_watch_too() -> None:
    store = Store()
    store.observe(obj("4", name="known"))
    listed = {("ml", "known"): 4, ("ml", "changed"): 9, ("ml", "new"): 3}
    store.observe(obj("5", name="changed"))
    # Up to date: nothing waits for it; newer or unseen: the watch owes them.
    assert store.expect(listed, at=50.0) == 2
    assert store.oldest_unechoed() == (("ml", "changed"), 50.0)
    assert store.expect(listed, at=80.0) == 2  # listed again: still waiting since 50
    assert store.oldest_unechoed() == (("ml", "changed"), 50.0)
    store.observe(obj("9", name="changed"))
    store.observe(obj("3", name="new"))
    assert store.oldest_unechoed() is None


def test_a_deletion_seen_after_the_list_was_read_owes_nothing() -> None:
    store = Store()
    store.observe(obj("4"))
    store.forget(obj("6"))
    assert store.expect({("ml", "bert"): 5}, at=1.0) == 0
    assert store.oldest_unechoed() is None


def test_clear_forgets_objects_and_what_the_watch_owed() -> None:
    store = Store()
    store.wrote(obj("4"), at=1.0)
    store.expect({("ml", "other"): 3}, at=2.0)
    store.clear()
    assert store.oldest_unechoed() is None and len(store) == 0
    assert store.get("ml", "bert") == (False, None)


def test_the_watch_delivering_a_write_of_ours_is_noted_and_other_versions_are_not() -> None:
    store = Store()
    assert store.delivered_at == float("-inf")
    store.observe(obj("3"))  # nothing owed: says nothing about the watch
    assert store.delivered_at == float("-inf")
    store.wrote(obj("4"), at=100.0)
    assert store.delivered_at == float("-inf")  # written, not yet delivered
    store.observe(obj("4"))
    assert store.delivered_at > float("-inf")
    store.clear()  # the watches stopped: what they delivered before says nothing now
    assert store.delivered_at == float("-inf")


def test_a_write_whose_echo_came_before_its_answer_owes_the_watch_nothing() -> None:
    # Under load the watch can deliver our write before the writer has read the answer; the
    # write must not then wait for an echo that already came (the watch would look stalled).
    store = Store()
    store.observe(obj("4"))
    store.wrote(obj("4"), at=100.0)
    assert store.oldest_unechoed() is None
    store.wrote(obj("6"), at=101.0)  # a later write still waits for its own echo
    assert store.oldest_unechoed() == (("ml", "bert"), 101.0)


def test_only_the_echo_of_a_write_of_ours_is_no_news() -> None:
    store = Store()
    assert not store.observe(obj("3"))  # someone else's version
    store.wrote(obj("4"), at=1.0)
    assert store.observe(obj("4"))  # our write coming back
    assert not store.observe(obj("4"))  # delivered again (a relist): news to whoever asks
    store.wrote(obj("6"), at=2.0)
    assert not store.observe(obj("7"))  # someone changed it after our write: news
    assert not store.observe(obj("6"))  # our write, but the watch is past it already
    store.wrote(obj("8"), at=3.0)
    assert not store.observe(obj("8"), echo=False)  # a read of ours is no watch echo
    store.forget(obj("9"))
    assert not store.observe(obj("8"))  # gone since: nothing of ours is owed


def test_a_version_held_already_is_kept_as_it_was_and_still_counts_as_the_echo() -> None:
    """One resourceVersion is one content: the echo of a write of ours is not encoded again
    (the store keeps the copy the write's answer gave), yet it is still the echo."""
    store = Store(summarize=lambda body: body["status"]["seen"])
    answer = obj("4")
    store.wrote(answer, at=1.0)
    echo = obj("4")
    echo["status"] = {"seen": "the same version, as the watch sends it"}
    assert store.observe(echo)
    assert store.get("ml", "bert")[1] == answer
    assert store.digests() == [(("ml", "bert"), "4")]
    assert store.oldest_unechoed() is None
