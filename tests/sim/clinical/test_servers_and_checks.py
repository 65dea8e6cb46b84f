"""The stub as either kind of server (a BaRS receiver, a plain FHIR server), conditional creates
in both, what it holds, and its check of every Bundle against the FHIR R4 JSON schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.fhir_r4 import SCHEMA_PATH
from tests.sim.clinical.stub import StubControl, transaction

SYSTEM = "https://lifeline.nhs.example/service-request-id"


def conditional(bundle: dict[str, Any], value: str = "7K2QX-M9D4A/opened") -> dict[str, Any]:
    """Every entry a conditional create on an identifier of its own (`<type>-<value>`)."""
    bundle = copy.deepcopy(bundle)
    for entry in bundle["entry"]:
        kind = entry["resource"]["resourceType"]
        identifier = {"system": SYSTEM, "value": f"{kind}-{value}"}
        entry["resource"]["identifier"] = [identifier]
        entry["request"]["ifNoneExist"] = f"identifier={SYSTEM}|{kind}-{value}"
    return bundle


def statuses(response: Any) -> list[str]:
    return [entry["response"]["status"] for entry in response.json()["entry"]]


def locations(response: Any) -> list[str]:
    return [entry["response"]["location"] for entry in response.json()["entry"]]


def test_a_plain_server_creates_a_plain_create_again_each_time_it_is_sent(
    stub: StubControl,
) -> None:
    stub.server("plain")

    first = stub.post_transaction(transaction("PPPPP-00001"))
    again = stub.post_transaction(transaction("PPPPP-00001"))

    assert (first.status_code, again.status_code) == (200, 200)  # never a 409
    assert statuses(again) == ["201 Created", "201 Created"]
    assert len(stub.resources("Patient")) == 2  # what a replay does to a stock FHIR server
    assert [r["outcome"] for r in stub.received()] == ["created", "created"]


@pytest.mark.parametrize("kind", ["plain", "bars"])
def test_a_conditional_create_finds_what_it_created_before_and_creates_nothing(
    stub: StubControl, kind: str
) -> None:
    stub.server(kind)

    first = stub.post_transaction(conditional(transaction("PPPPP-00002")))
    # A new request id: a BaRS server too looks for the resources before creating them.
    again = stub.post_transaction(conditional(transaction("PPPPP-00003")))

    assert statuses(first) == ["201 Created", "201 Created"]
    assert (again.status_code, statuses(again)) == (200, ["200 OK", "200 OK"])
    assert locations(again) == locations(first)
    assert [r["outcome"] for r in stub.received()] == ["created", "duplicate"]
    held = stub.resources()
    assert [r["resourceType"] for r in held] == ["Patient", "ServiceRequest"]
    assert held[1]["identifier"] == [
        {"system": SYSTEM, "value": "ServiceRequest-7K2QX-M9D4A/opened"}
    ]
    assert [f"{r['resourceType']}/{r['id']}/_history/1" for r in held] == locations(first)


def test_a_conditional_create_on_another_identifier_creates(stub: StubControl) -> None:
    stub.server("plain")
    stub.post_transaction(conditional(transaction(), "7K2QX-M9D4A/opened"))

    wrap_up = stub.post_transaction(conditional(transaction(), "7K2QX-M9D4A/wrap-up"))

    assert statuses(wrap_up) == ["201 Created", "201 Created"]
    assert len(stub.resources("ServiceRequest")) == 2


def test_only_a_bars_server_answers_a_repeated_request_id_409(stub: StubControl) -> None:
    body = conditional(transaction("PPPPP-00004"))
    stub.post_transaction(body)
    assert stub.post_transaction(body).status_code == 409

    stub.server("plain")

    replay = stub.post_transaction(body)
    assert (replay.status_code, statuses(replay)) == (200, ["200 OK", "200 OK"])
    assert len(stub.resources()) == 2


def test_a_plain_server_takes_a_transaction_without_a_request_id(stub: StubControl) -> None:
    stub.server("plain")

    response = stub.post_transaction(transaction(identifier=None))

    assert response.status_code == 200
    assert stub.received()[0]["case_id"] is None


def test_a_conditional_create_matching_several_fails_the_whole_transaction_412(
    stub: StubControl,
) -> None:
    stub.server("plain")
    plain = conditional(transaction())
    for entry in plain["entry"]:
        del entry["request"]["ifNoneExist"]
    stub.post_transaction(plain)
    stub.post_transaction(plain)  # two ServiceRequests with the same identifier

    response = stub.post_transaction(conditional(transaction()))

    assert response.status_code == 412
    assert response.json()["issue"][0]["code"] == "multiple-matches"
    assert "entry[0]" in response.json()["issue"][0]["diagnostics"]
    assert len(stub.resources()) == 4  # nothing more created, not even what did not match


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("name=Smith", "only identifier=[system|]value"),
        ("identifier=a|b&name=Smith", "only identifier=[system|]value"),
        (f"identifier={SYSTEM}|", "no value"),
    ],
)
def test_a_conditional_create_on_anything_but_an_identifier_is_refused_400(
    stub: StubControl, query: str, says: str
) -> None:
    body = transaction()
    body["entry"][0]["request"]["ifNoneExist"] = query

    response = stub.post_transaction(body)

    assert response.status_code == 400
    assert says in response.json()["issue"][0]["diagnostics"]
    assert stub.resources() == []


def test_a_search_by_value_alone_matches_it_in_any_system(stub: StubControl) -> None:
    stub.post_transaction(conditional(transaction("PPPPP-00005")))
    body = conditional(transaction("PPPPP-00006"))
    body["entry"][0]["request"]["ifNoneExist"] = "identifier=Patient-7K2QX-M9D4A/opened"

    assert statuses(stub.post_transaction(body))[0] == "200 OK"


def test_a_bundle_that_r4b_accepts_but_r4_does_not_have_is_refused_400(
    stub: StubControl,
) -> None:
    # NutritionProduct is R4B's (fhir.resources' models), not R4's.
    body = transaction("PPPPP-00007")
    body["entry"][0] = {
        "fullUrl": "urn:uuid:5f0c1b7e-0000-5000-8000-000000000009",
        "resource": {"resourceType": "NutritionProduct", "status": "active"},
        "request": {"method": "POST", "url": "NutritionProduct"},
    }
    body["entry"][1]["resource"]["subject"]["reference"] = body["entry"][0]["fullUrl"]

    refused = stub.post_transaction(body)

    assert refused.status_code == 400
    [issue] = refused.json()["issue"]
    assert issue["code"] == "invalid"
    assert issue["diagnostics"] == (
        "Bundle does not match the FHIR R4 schema: "
        "$.entry[0].resource: NutritionProduct is not a FHIR R4 resource type"
    )
    stub.check_r4(None)
    try:
        assert stub.post_transaction(body).status_code == 200
    finally:
        stub.check_r4()


def test_the_schema_check_names_the_element_and_the_rule_never_the_value(
    stub: StubControl,
) -> None:
    body = transaction("PPPPP-00008")
    body["entry"][0]["resource"]["telecom"][0]["system"] = "+447700900123"

    refused = stub.post_transaction(body)

    assert refused.status_code == 400
    diagnostics = refused.json()["issue"][0]["diagnostics"]
    assert "$.entry[0].resource.telecom[0].system: fails enum" in diagnostics
    assert "900123" not in diagnostics


def test_the_kind_and_the_check_are_reported_and_reset_keeps_only_the_check(
    stub: StubControl,
) -> None:
    stub.server("plain")
    assert stub.control.get("/control/server").json() == {"kind": "plain"}
    assert stub.control.get("/control/checks").json() == {"r4_schema": str(SCHEMA_PATH)}
    stub.post_transaction(transaction())

    stub.reset()

    assert stub.control.get("/control/server").json() == {"kind": "bars"}
    assert stub.control.get("/control/checks").json() == {"r4_schema": str(SCHEMA_PATH)}
    assert stub.resources() == []


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/control/server", {"kind": "hapi"}, "kind"),
        ("/control/server", {"kind": "plain", "strict": True}, "strict"),
        ("/control/checks", {"r4_schema": "/nowhere/fhir.schema.json"}, "cannot read the schema"),
        ("/control/checks", {"r4_schema": __file__}, "cannot read the schema"),
        ("/control/checks", {}, "r4_schema"),
    ],
)
def test_a_bad_setting_is_refused_and_changes_nothing(
    stub: StubControl, path: str, body: dict[str, object], says: str
) -> None:
    response = stub.control.put(path, json=body)

    assert response.status_code == 422
    assert says in response.json()["error"]
    assert stub.control.get("/control/server").json() == {"kind": "bars"}
    assert stub.control.get("/control/checks").json() == {"r4_schema": str(SCHEMA_PATH)}


def test_resources_can_be_listed_by_type(stub: StubControl) -> None:
    stub.post_transaction(conditional(transaction("PPPPP-00009")))

    [patient] = stub.resources("Patient")

    assert patient["identifier"] == [{"system": SYSTEM, "value": "Patient-7K2QX-M9D4A/opened"}]
    assert stub.resources("Encounter") == []
    assert stub.control.get("/control/resources").json()["count"] == 2
