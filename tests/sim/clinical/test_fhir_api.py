"""The stub's FHIR API when nothing is wrong: metadata, transactions, replays, bad input."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.sim.clinical.stub import FHIR_JSON, StubControl, transaction


def issue_of(body: dict[str, Any]) -> dict[str, Any]:
    outcome = OperationOutcome.model_validate(body)  # a valid FHIR OperationOutcome, to begin with
    assert len(outcome.issue) == 1
    issue: dict[str, Any] = body["issue"][0]
    return issue


def test_metadata_is_an_active_r4_capability_statement_for_transactions(stub: StubControl) -> None:
    response = stub.metadata()

    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.status == "active"
    assert statement.fhirVersion == "4.0.1"
    assert statement.kind == "instance"
    assert statement.format == ["json"]
    [rest] = statement.rest or []
    assert rest.mode == "server"
    assert [interaction.code for interaction in rest.interaction or []] == ["transaction"]


def test_a_transaction_is_stored_and_each_entry_answered_201_with_a_location(
    stub: StubControl,
) -> None:
    response = stub.post_transaction(transaction("AAAAA-00001"))

    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in body["entry"]]
    locations = [entry["response"]["location"] for entry in body["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    assert re.fullmatch(r"Patient/[0-9a-f-]{36}/_history/1", locations[0])
    assert re.fullmatch(r"ServiceRequest/[0-9a-f-]{36}/_history/1", locations[1])
    [record] = stub.received("AAAAA-00001")
    assert (record["status"], record["outcome"]) == (200, "created")
    assert record["bundle"] == transaction("AAAAA-00001")
    assert record["answer"] == body


def test_a_replay_of_the_same_request_id_is_answered_409_duplicate(stub: StubControl) -> None:
    first = stub.post_transaction(transaction("AAAAA-00002"))
    replay = stub.post_transaction(transaction("AAAAA-00002"))
    other = stub.post_transaction(transaction("AAAAA-00003"))

    assert first.status_code == 200
    assert replay.status_code == 409
    issue = issue_of(replay.json())
    assert (issue["severity"], issue["code"]) == ("error", "duplicate")
    assert "AAAAA-00002" in issue["diagnostics"]
    assert other.status_code == 200
    assert [r["outcome"] for r in stub.received("AAAAA-00002")] == ["created", "duplicate"]


def _without_request(bundle: dict[str, Any]) -> dict[str, Any]:
    del bundle["entry"][1]["request"]
    return bundle


def _dangling(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"][1]["resource"]["subject"]["reference"] = "urn:uuid:not-in-this-bundle"
    return bundle


def _method_put(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"][0]["request"]["method"] = "PUT"
    return bundle


def _url_mismatch(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"][0]["request"]["url"] = "Encounter"
    return bundle


def _unknown_field(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"][0]["resource"]["nickname"] = "not a FHIR element"
    return bundle


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "not a JSON object"),
        (b'{"type": "transaction"}', 400, "no resourceType"),
        (_unknown_field(transaction()), 400, "nickname"),
        (transaction(entry="not a list"), 400, "entry"),
        ({"resourceType": "Patient"}, 422, "not a Patient"),
        (transaction(type="batch"), 422, "must be transaction"),
        (transaction(identifier=None), 422, "request id"),
        (transaction(identifier={"system": "urn:other", "value": "X"}), 422, "request id"),
        (transaction(entry=[]), 422, "no entries"),
        (_without_request(transaction()), 422, "entry[1] needs both a resource and a request"),
        (_method_put(transaction()), 422, "only POST"),
        (_url_mismatch(transaction()), 422, "must be Patient"),
        (_dangling(transaction()), 422, "urn:uuid:not-in-this-bundle does not resolve"),
    ],
)
def test_a_bad_body_is_answered_400_or_422_with_an_operation_outcome_saying_why(
    stub: StubControl, body: bytes | dict[str, Any], status: int, says: str
) -> None:
    content = body if isinstance(body, bytes) else None
    if content is None:
        response = stub.post_transaction(body)
    else:
        response = stub.fhir.post(
            stub.fhir_base_url, content=content, headers={"Content-Type": FHIR_JSON}
        )

    assert response.status_code == status, response.text
    issue = issue_of(response.json())
    assert (issue["severity"], issue["code"]) == ("error", "invalid")
    assert says in issue["diagnostics"]
    [record] = stub.received()
    assert (record["status"], record["outcome"]) == (status, "invalid")


def test_a_body_that_is_not_fhir_json_is_answered_415(stub: StubControl) -> None:
    response = stub.fhir.post(
        stub.fhir_base_url, content=b"<Bundle/>", headers={"Content-Type": "application/xml"}
    )

    assert response.status_code == 415
    assert "application/fhir+json" in issue_of(response.json())["diagnostics"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/Patient/123", 404, "not-found"),
        ("POST", "/Patient", 404, "not-found"),
        ("GET", "", 405, "not-supported"),
        ("DELETE", "/metadata", 405, "not-supported"),
    ],
)
def test_anything_else_is_answered_with_an_operation_outcome(
    stub: StubControl, method: str, path: str, status: int, code: str
) -> None:
    response = stub.fhir.request(method, stub.fhir_base_url + path)

    assert response.status_code == status
    assert response.headers["content-type"] == FHIR_JSON
    assert issue_of(response.json())["code"] == code


def test_each_request_is_logged_on_one_line_without_patient_data(
    stub: StubControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sim.clinical")

    stub.post_transaction(transaction("AAAAA-00004"))
    stub.fhir.get(stub.fhir_base_url + "/Patient/+447700900123")

    lines = [r.getMessage() for r in caplog.records if r.name == "sim.clinical.fhir"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /fhir -> 200")
    assert lines[1].startswith("GET (other path) -> 404")
    assert "900123" not in caplog.text


def test_the_probes_healthy_reads_of_metadata_are_not_news_and_a_failing_one_is(
    stub: StubControl, caplog: pytest.LogCaptureFixture
) -> None:
    """Lifeline reads /metadata every two seconds: a local run's log would be little else."""
    caplog.set_level(logging.DEBUG, logger="sim.clinical")

    stub.fhir.get(stub.fhir_base_url + "/metadata")
    stub.fault("errors")
    stub.fhir.get(stub.fhir_base_url + "/metadata")

    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "sim.clinical.fhir"]
    assert [level for level, _ in logged] == [logging.DEBUG, logging.INFO]
    assert logged[0][1].startswith("GET /fhir/metadata -> 200")
    assert logged[1][1].startswith("GET /fhir/metadata -> 5")
