"""A Deployment the operator created with a POST hands its fields to the operator's applies
(controller/managed_fields.py), as kubectl's csaupgrade does."""

from __future__ import annotations

from typing import Any

from neuron_operator.controller.managed_fields import adopted, created_not_applied, union

OURS = "neuron-operator"
AT = "2026-12-01T00:00:00Z"


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "time": "2026-11-30T00:00:00Z",
        **extra,
    }


CREATED: dict[str, Any] = {
    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}
}


def test_the_create_becomes_the_apply_and_others_stay_as_they_were() -> None:
    controller = entry("kube-controller-manager", "Update", {"f:status": {}}, subresource="status")
    user = entry("kubectl-edit", "Update", {"f:metadata": {"f:labels": {"f:team": {}}}})
    entries = [entry(OURS, "Update", CREATED), controller, user]
    assert created_not_applied({"metadata": {"managedFields": entries}}, OURS)
    folded = adopted(entries, OURS, AT)
    assert folded is not None
    assert folded[:2] == [controller, user]
    assert folded[2] == {
        "manager": OURS,
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": CREATED,
        "time": AT,
    }
    assert not created_not_applied({"metadata": {"managedFields": folded}}, OURS)


def test_an_apply_entry_there_already_takes_the_create_fields_in() -> None:
    applied: dict[str, Any] = {"f:spec": {"f:template": {"f:metadata": {"f:labels": {}}}}}
    folded = adopted([entry(OURS, "Apply", applied), entry(OURS, "Update", CREATED)], OURS, AT)
    assert folded is not None and len(folded) == 1
    assert folded[0]["fieldsV1"] == union(applied, CREATED)
    assert folded[0]["fieldsV1"]["f:spec"]["f:template"] == {
        "f:metadata": {"f:labels": {}},
        "f:spec": {"f:containers": {}},
    }


def test_nothing_to_fold_without_a_create_of_ours() -> None:
    status = entry(OURS, "Update", {"f:status": {}}, subresource="status")
    others = [entry(OURS, "Apply", CREATED), entry("someone", "Update", CREATED), status]
    assert adopted(others, OURS, AT) is None
    assert not created_not_applied({"metadata": {"managedFields": others}}, OURS)
    assert not created_not_applied(None, OURS)
