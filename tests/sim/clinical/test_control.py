"""The control API: what was received, per case, cleared; reset; bad fault settings refused."""

from __future__ import annotations

import re

import pytest

from tests.sim.clinical.stub import StubControl, transaction


def test_received_lists_every_transaction_in_order_with_time_and_answer(stub: StubControl) -> None:
    stub.post_transaction(transaction("RRRRR-00001"))
    stub.post_transaction(transaction("RRRRR-00002"))
    stub.post_transaction(transaction("RRRRR-00001"))
    stub.post_transaction(transaction(type="batch"))

    records = stub.received()

    assert [(r["case_id"], r["status"], r["outcome"]) for r in records] == [
        ("RRRRR-00001", 200, "created"),
        ("RRRRR-00002", 200, "created"),
        ("RRRRR-00001", 409, "duplicate"),
        ("7K2QX-M9D4A", 422, "invalid"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["at"]) for r in records)
    assert [r["answer"]["resourceType"] for r in records] == [
        "Bundle",
        "Bundle",
        "OperationOutcome",
        "OperationOutcome",
    ]
    assert [r["bundle"] for r in stub.received("RRRRR-00002")] == [transaction("RRRRR-00002")]
    assert stub.received("NOTHI-NGYET") == []


def test_clearing_received_keeps_the_request_ids_so_a_replay_is_still_a_duplicate(
    stub: StubControl,
) -> None:
    stub.post_transaction(transaction("RRRRR-00003"))

    stub.control.delete("/control/received").raise_for_status()

    assert stub.received() == []
    assert stub.post_transaction(transaction("RRRRR-00003")).status_code == 409


def test_reset_brings_the_fhir_port_up_and_forgets_everything(stub: StubControl) -> None:
    stub.post_transaction(transaction("RRRRR-00004"))
    stub.fault("down")

    stub.reset()

    assert stub.fault_state()["mode"] == "up"
    assert stub.received() == []
    assert stub.post_transaction(transaction("RRRRR-00004")).status_code == 200


def test_the_fault_reports_its_settings_and_the_fhir_base_url(stub: StubControl) -> None:
    state = stub.fault("slow", slow_seconds=1.5)

    assert state == stub.fault_state()
    assert state["mode"] == "slow"
    assert state["now"] == "slow"
    assert state["slow_seconds"] == 1.5
    assert state["flap_period_seconds"] == 5.0
    assert state["listening"] is True
    assert state["fhir_base_url"] == stub.fhir_base_url


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"mode": "sideways"}, "mode"),
        ({}, "mode"),
        ({"mode": "slow", "slow_seconds": 0}, "slow_seconds"),
        ({"mode": "flapping", "flap_period_seconds": -1}, "flap_period_seconds"),
        ({"mode": "up", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_fault_is_refused_and_changes_nothing(
    stub: StubControl, body: dict[str, object], says: str
) -> None:
    response = stub.control.put("/control/fault", json=body)

    assert response.status_code == 422
    assert says in response.json()["error"]
    assert stub.fault_state()["mode"] == "up"
