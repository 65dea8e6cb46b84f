"""The clinical-system adapter against the stub over real HTTP: probes, deliveries, replays, and
each way the system can fail, translated at the seam."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from tests.sim.clinical.stub import StubControl, running_stub
from workers.clinical import (
    ClinicalRejected,
    ClinicalSystem,
    ClinicalUnavailable,
    Delivery,
    Outcome,
    _slots_held,
)
from workers.fhir import bundle_json

pytestmark = pytest.mark.anyio

CALLER = "+447700900123"
TIMEOUT = 0.5
PROBE_TIMEOUT = 0.3
SLOWER = 1.0  # the stub's `slow`: past both timeouts
APPOINTMENT = BookedSlot(
    slot="Slot/gp-1400",
    start=datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
    end=datetime(2026, 1, 5, 14, 10, tzinfo=UTC),
)
HELD = ("Patient", "Encounter", "ServiceRequest")


def case(case_id: str = "7K2QX-M9D4A", kind: CaseKind = CaseKind.REFERRAL) -> ClinicalCase:
    return ClinicalCase(
        case_id=case_id,
        kind=kind,
        created=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        caller_number=CALLER,
        locale="en-GB",
        reason="medical",
        priority=2,
        handler_notes="Breathless on exertion",
        appointment=APPOINTMENT if kind is CaseKind.BOOKING else None,
    )


@pytest.fixture(scope="module")
def _stub_server() -> Iterator[StubControl]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def stub(_stub_server: StubControl) -> StubControl:
    _stub_server.reset()
    return _stub_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def clinical(stub: StubControl, http: httpx.AsyncClient) -> ClinicalSystem:
    return ClinicalSystem(stub.fhir_base_url, http, timeout=TIMEOUT, probe_timeout=PROBE_TIMEOUT)


async def test_a_probe_of_a_healthy_system_reads_its_capability_statement(
    clinical: ClinicalSystem,
) -> None:
    probe = await clinical.probe()

    assert probe.healthy is True
    assert probe.status == 200
    assert "4.0.1" in probe.detail
    assert 0 < probe.latency_seconds < PROBE_TIMEOUT


@pytest.mark.parametrize(
    ("mode", "status", "detail"),
    [
        ("down", None, "unreachable: ConnectError"),
        ("errors", 503, "answered 503"),
        ("slow", None, f"no answer within {PROBE_TIMEOUT:g} s"),
    ],
)
async def test_a_probe_of_a_failing_system_is_unhealthy_and_never_raises(
    stub: StubControl, clinical: ClinicalSystem, mode: str, status: int | None, detail: str
) -> None:
    stub.fault(mode, slow_seconds=SLOWER)

    probe = await clinical.probe()

    assert (probe.healthy, probe.status, probe.detail) == (False, status, detail)
    assert probe.latency_seconds < PROBE_TIMEOUT + 0.2


async def test_a_case_is_created_and_the_system_received_exactly_its_bundle(
    stub: StubControl, clinical: ClinicalSystem
) -> None:
    delivery = await clinical.send(case("CCCCC-00001"))

    assert delivery.outcome is Outcome.CREATED
    assert delivery.status == 200
    assert [location.split("/")[0] for location in delivery.locations] == [
        "Patient",
        "Encounter",
        "ServiceRequest",
    ]
    [received] = stub.received("CCCCC-00001")
    assert received["bundle"] == bundle_json(case("CCCCC-00001"))
    assert received["status"] == 200


async def test_a_booking_creates_its_appointment_too(
    stub: StubControl, clinical: ClinicalSystem
) -> None:
    delivery = await clinical.send(case("CCCCC-00002", CaseKind.BOOKING))

    assert [location.split("/")[0] for location in delivery.locations] == [
        "Patient",
        "Encounter",
        "ServiceRequest",
        "Appointment",
    ]
    [received] = stub.received("CCCCC-00002")
    assert received["bundle"] == bundle_json(case("CCCCC-00002", CaseKind.BOOKING))


def held(stub: StubControl) -> dict[str, list[str]]:
    """The identifier values of what the system holds, by resource type."""
    found: dict[str, list[str]] = {}
    for resource in stub.resources():
        values = [identifier["value"] for identifier in resource["identifier"]]
        found.setdefault(resource["resourceType"], []).extend(values)
    return found


async def test_a_replay_of_a_delivered_case_is_a_duplicate_and_so_delivered(
    stub: StubControl, clinical: ClinicalSystem
) -> None:
    first = await clinical.send(case("CCCCC-00003"))
    replay = await clinical.send(case("CCCCC-00003"))

    assert first.outcome is Outcome.CREATED
    assert replay == Delivery(case_id="CCCCC-00003", outcome=Outcome.DUPLICATE, status=409)
    bundles = [record["bundle"] for record in stub.received("CCCCC-00003")]
    assert bundles[0] == bundles[1]  # byte for byte the same request


async def test_a_plain_fhir_server_finds_a_replayed_case_and_creates_nothing_again(
    stub: StubControl, clinical: ClinicalSystem
) -> None:
    stub.server("plain")  # no request ids, no 409: only conditional creates keep it once

    first = await clinical.send(case("CCCCC-00005"))
    replay = await clinical.send(case("CCCCC-00005"))

    assert first.outcome is Outcome.CREATED
    assert replay.outcome is Outcome.DUPLICATE
    assert replay.status == 200
    assert replay.locations == first.locations  # the very resources created the first time
    assert held(stub) == {held_type: ["CCCCC-00005/opened"] for held_type in HELD}


@pytest.mark.parametrize("kind", ["bars", "plain"])
async def test_the_wrap_up_of_a_case_sent_already_creates_resources_of_its_own(
    stub: StubControl, clinical: ClinicalSystem, kind: str
) -> None:
    stub.server(kind)
    opened = case("CCCCC-00006")
    wrap_up = opened.model_copy(update={"request": Request.WRAP_UP, "handler_notes": "seen"})

    assert (await clinical.send(opened)).outcome is Outcome.CREATED
    assert (await clinical.send(wrap_up)).outcome is Outcome.CREATED
    assert (await clinical.send(wrap_up)).outcome is Outcome.DUPLICATE

    requests = ["CCCCC-00006/opened", "CCCCC-00006/wrap-up"]
    assert held(stub) == {held_type: requests for held_type in HELD}


async def test_a_system_that_says_it_already_has_the_case_has_it(
    stub: StubControl, clinical: ClinicalSystem
) -> None:
    stub.fault("duplicates")

    delivery = await clinical.send(case("CCCCC-00004"))

    assert delivery.outcome is Outcome.DUPLICATE


@pytest.mark.parametrize(
    ("mode", "status", "says"),
    [
        ("down", None, "unreachable: ConnectError"),
        ("errors", 503, "answered 503"),
        ("slow", None, f"no answer within {TIMEOUT:g} s"),
    ],
)
async def test_a_send_to_a_failing_system_raises_unavailable(
    stub: StubControl, clinical: ClinicalSystem, mode: str, status: int | None, says: str
) -> None:
    stub.fault(mode, slow_seconds=SLOWER)

    with pytest.raises(ClinicalUnavailable) as raised:
        await clinical.send(case("UUUUU-00001"))

    assert raised.value.case_id == "UUUUU-00001"
    assert raised.value.status == status
    assert says in str(raised.value)


@pytest.mark.parametrize("kind", ["bars", "plain"])
async def test_a_send_that_timed_out_is_delivered_by_its_replay_as_a_duplicate(
    stub: StubControl, clinical: ClinicalSystem, kind: str
) -> None:
    stub.server(kind)
    stub.fault("slow", slow_seconds=SLOWER)
    with pytest.raises(ClinicalUnavailable):
        await clinical.send(case("UUUUU-00002"))
    stub.fault("up")

    replay = await clinical.send(case("UUUUU-00002"))

    assert replay.outcome is Outcome.DUPLICATE  # the slow system had stored it all along
    assert held(stub) == {held_type: ["UUUUU-00002/opened"] for held_type in HELD}


class Rewriting(httpx.AsyncBaseTransport):
    """Real HTTP, with the request body changed on the way: what a bad request looks like to the
    system, without changing a line of the adapter."""

    def __init__(self, rewrite: Callable[[dict[str, Any]], object]) -> None:
        self.rewrite = rewrite
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = self.rewrite(json.loads(await request.aread()))
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        changed = httpx.Request(request.method, request.url, headers=headers, content=content)
        return await self.inner.handle_async_request(changed)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _truncated(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle).encode()[:-10]


def _as_batch(bundle: dict[str, Any]) -> dict[str, Any]:
    return {**bundle, "type": "batch"}


@pytest.mark.parametrize(("rewrite", "status"), [(_truncated, 400), (_as_batch, 422)])
async def test_a_request_the_system_refuses_raises_rejected_with_its_diagnostics(
    stub: StubControl,
    rewrite: Callable[[dict[str, Any]], object],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="workers.clinical")
    async with httpx.AsyncClient(transport=Rewriting(rewrite), trust_env=False) as http:
        clinical = ClinicalSystem(stub.fhir_base_url, http, timeout=TIMEOUT)
        with pytest.raises(ClinicalRejected) as raised:
            await clinical.send(case("XXXXX-00001"))

    assert raised.value.status == status
    assert raised.value.case_id == "XXXXX-00001"
    assert "invalid" in str(raised.value)
    assert raised.value.diagnostics  # the system's own words, kept for a person to read
    assert [record["status"] for record in stub.received()] == [status]
    [logged] = caplog.records
    assert getattr(logged, "case_id", None) == "XXXXX-00001"
    assert CALLER[-6:] not in caplog.text


async def test_a_wrong_base_url_is_rejected_not_unavailable(
    stub: StubControl, http: httpx.AsyncClient
) -> None:
    clinical = ClinicalSystem(stub.fhir_base_url + "/R4", http, timeout=TIMEOUT)

    with pytest.raises(ClinicalRejected) as raised:
        await clinical.send(case("XXXXX-00002"))

    assert raised.value.status == 404
    assert "not-found" in str(raised.value)


async def test_a_failure_is_logged_with_the_case_id_and_never_the_callers_number(
    stub: StubControl, clinical: ClinicalSystem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.clinical")
    stub.fault("errors")
    with pytest.raises(ClinicalUnavailable):
        await clinical.send(case("LLLLL-00001"))
    stub.fault("up")
    await clinical.send(case("LLLLL-00001"))

    assert [getattr(r, "case_id", None) for r in caplog.records] == ["LLLLL-00001"] * 2
    assert CALLER[-6:] not in caplog.text


def test_a_cancelled_appointment_holds_no_slot() -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Appointment", "status": status, "slot": [ref]}}
            for status, ref in (
                ("cancelled", {"reference": "Slot/a"}),
                ("entered-in-error", {"reference": "Slot/b"}),
                ("booked", {"reference": "Slot/c"}),
            )
        ],
    }
    answer = httpx.Response(200, json=searchset)

    assert _slots_held("7K2QX-M9D4A", answer) == ("Slot/c",)
