"""Faults switched over the control API: what a client of the FHIR port meets in each mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.sim.clinical.stub import ManualWall, StubControl, running_stub, transaction
from tests.sim.servers import wait_until


def test_down_closes_the_fhir_port_so_connections_are_refused_and_up_reopens_it(
    stub: StubControl,
) -> None:
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        assert stub.metadata(client).status_code == 200  # leaves a kept-alive connection

        state = stub.fault("down")

        assert (state["mode"], state["listening"]) == ("down", False)
        with pytest.raises(httpx.ConnectError):
            stub.metadata(client)
        with pytest.raises(httpx.ConnectError):
            stub.post_transaction(transaction("DDDDD-00001"), client)
        assert stub.received() == []  # the control port is still up, and heard nothing

        stub.fault("up")

        assert stub.metadata(client).status_code == 200
        assert stub.post_transaction(transaction("DDDDD-00001"), client).status_code == 200


def test_going_down_twice_and_up_twice_is_harmless(stub: StubControl) -> None:
    stub.fault("down")
    assert stub.fault("down")["listening"] is False
    stub.fault("errors")
    assert stub.fault("up")["listening"] is True
    assert stub.metadata().status_code == 200


def test_slow_holds_every_answer_so_a_client_with_a_shorter_timeout_gives_up(
    stub: StubControl,
) -> None:
    stub.fault("slow", slow_seconds=0.4)

    with httpx.Client(timeout=0.1, trust_env=False) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            stub.metadata(impatient)
        with pytest.raises(httpx.ReadTimeout):
            stub.post_transaction(transaction("SSSSS-00001"), impatient)
    started = time.monotonic()
    patient_answer = stub.metadata()
    assert patient_answer.status_code == 200
    assert time.monotonic() - started >= 0.4


def test_a_transaction_the_client_gave_up_on_was_still_stored_so_its_replay_is_a_duplicate(
    stub: StubControl,
) -> None:
    stub.fault("slow", slow_seconds=0.5)
    with httpx.Client(timeout=0.1, trust_env=False) as impatient, pytest.raises(httpx.ReadTimeout):
        stub.post_transaction(transaction("SSSSS-00002"), impatient)
    stub.fault("up")

    assert stub.post_transaction(transaction("SSSSS-00002")).status_code == 409


@pytest.fixture
def in_flight(stub: StubControl) -> Iterator[list[httpx.Response]]:
    """A transaction held by `slow` (30 s) in another thread; its answer lands in the list."""
    stub.fault("slow", slow_seconds=30)
    answers: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answers.append(stub.post_transaction(transaction("SSSSS-00003")))
    )
    thread.start()
    wait_until(lambda: len(stub.received()) == 1, "the stub to receive the transaction")
    yield answers
    thread.join(5)


def test_a_held_answer_is_released_when_the_fault_changes(
    stub: StubControl, in_flight: list[httpx.Response]
) -> None:
    started = time.monotonic()
    stub.fault("down")

    assert time.monotonic() - started < 5  # not the 30 s of slow
    wait_until(lambda: len(in_flight) == 1, "the held answer")
    assert in_flight[0].status_code == 200


def test_errors_answers_503_to_everything_and_stores_nothing(stub: StubControl) -> None:
    stub.fault("errors")

    metadata = stub.metadata()
    sent = stub.post_transaction(transaction("EEEEE-00001"))
    malformed = stub.post_transaction({"resourceType": "Patient"})

    for response in (metadata, sent, malformed):
        assert response.status_code == 503
        assert response.json()["resourceType"] == "OperationOutcome"
    assert [r["outcome"] for r in stub.received()] == ["unavailable", "unavailable"]
    stub.fault("up")
    assert stub.post_transaction(transaction("EEEEE-00001")).status_code == 200


@pytest.fixture
def wall() -> ManualWall:
    return ManualWall()


@pytest.fixture
def stub_on_manual_wall(wall: ManualWall) -> Iterator[StubControl]:
    with running_stub(wall) as stub:
        yield stub


def test_flapping_alternates_up_and_errors_one_period_each_by_the_wall_clock(
    stub_on_manual_wall: StubControl, wall: ManualWall
) -> None:
    stub = stub_on_manual_wall
    start = wall.now
    stub.fault("flapping", flap_period_seconds=5)
    seen = []
    for seconds_in in (0, 4.9, 5, 9.9, 10, 15, 20.1):
        wall.now = start + seconds_in
        seen.append((stub.metadata().status_code, stub.fault_state()["now"]))

    assert seen == [
        (200, "up"),
        (200, "up"),
        (503, "errors"),
        (503, "errors"),
        (200, "up"),
        (503, "errors"),
        (200, "up"),
    ]


def test_flapping_on_the_real_clock_comes_and_goes(stub: StubControl) -> None:
    stub.fault("flapping", flap_period_seconds=0.2)
    statuses: list[int] = []

    def failed_then_recovered() -> bool:
        statuses.append(stub.metadata().status_code)
        return 503 in statuses and 200 in statuses[statuses.index(503) :]

    wait_until(failed_then_recovered, "flapping to fail and then recover", timeout=5)
    assert set(statuses) == {200, 503}


def test_duplicates_answers_every_transaction_409_but_records_it(stub: StubControl) -> None:
    stub.fault("duplicates")

    response = stub.post_transaction(transaction("PPPPP-00001"))

    assert response.status_code == 409
    assert response.json()["issue"][0]["code"] == "duplicate"
    [record] = stub.received("PPPPP-00001")
    assert record["outcome"] == "duplicate"
    assert record["bundle"] == transaction("PPPPP-00001")
    stub.fault("up")
    assert stub.post_transaction(transaction("PPPPP-00001")).status_code == 200
