"""A rule set activated through one web process is the one another web process decides by."""

from __future__ import annotations

import httpx

from lifeline.redis_server import free_port
from tests.e2e.stack import BIN, Stack


def test_a_version_activated_on_one_web_process_is_followed_by_another(stack: Stack) -> None:
    other_port = free_port()
    other_url = f"http://127.0.0.1:{other_port}"
    stack.spawn(
        "web-2", str(BIN / "lifeline"), "web", "--host", "127.0.0.1", "--port", str(other_port)
    )
    stack.wait_for(lambda: stack.up(f"{other_url}/healthz"), "the second web process")
    other = httpx.Client(base_url=other_url, timeout=10, headers=dict(stack.api.headers))
    try:
        medicines = {"reason": "medicines"}
        before = other.post("/api/v1/rules/dry-run", json=medicines).json()
        assert (before["version"], before["queue"]) == (1, "general")

        rules = stack.api.get("/api/v1/rules").json()["rules"]
        route = next(r for r in rules["routes"] if r["name"] == "medicines")
        route["queue"] = "mental_health"
        version = stack.api.post("/api/v1/rules/versions", json={"rules": rules}).json()
        stack.api.post(f"/api/v1/rules/versions/{version['number']}/activate", json={})

        def routed_by_the_new_version() -> bool:
            active = other.post("/api/v1/rules/dry-run", json=medicines).json()
            return bool(active["version"] == 2 and active["queue"] == "mental_health")

        # Polled, and over as soon as the other process follows. That it follows within 2 s (and
        # not before its cache period) is proved on the cache's own clock in
        # tests/routing/test_rulebook.py; the deadline here only bounds a slow, shared machine.
        stack.wait_for(routed_by_the_new_version, "the second process to follow", timeout=10)
    finally:
        other.close()
