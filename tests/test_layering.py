"""The direction of imports between packages, checked from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "prompts", "routing", "workers", "ivr", "console", "lifeline", "sim")

# What each package may import from the others. `config` (the settings, the Redis clients they
# make, the number policy and the webhook paths) is the leaf every package of the product uses.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "prompts": set(),
    "routing": {"config", "prompts"},
    "workers": {"config", "routing", "prompts"},
    "ivr": {"config", "routing", "prompts", "workers"},
    "console": {"config", "routing", "prompts", "workers"},
    "lifeline": {"config", "routing", "prompts", "workers", "ivr", "console"},
    "sim": set(),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(imports_of(path)):
            top = name.split(".")[0]
            if top not in PACKAGES or top == package:
                continue
            if top not in ALLOWED[package]:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_only_in_the_allowed_direction(package: str) -> None:
    assert violations(package) == []


# The webhooks import nothing of the workers: they enqueue through the floor's jobs, never wait
# on the outside world. The consoles may also reach the clinical system, briefly, to search and
# book appointments while a handler watches.
WEB_SIDE_WORKERS: dict[str, set[str]] = {
    "ivr": set(),
    "console": {"enqueue", "clinical"},
}


def test_only_enqueue_helpers_of_workers_are_imported_by_the_web_side() -> None:
    for package, allowed in WEB_SIDE_WORKERS.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in imports_of(path):
                if name.startswith("workers."):
                    assert name.split(".")[1] in allowed, f"{path} imports {name}"


# The use cases over the floor, in routing: the stores and the domain's values below them never
# import them (a use case may build on another).
USE_CASES = {
    "floor",
    "activation",
    "placing",
    "putting_through",
    "onward",
    "waiting",
    "arrival",
    "answering",
    "callback_booking",
    "callback_legs",
    "callback_priority",
    "after_call",
}


def test_the_stores_never_import_the_use_cases() -> None:
    offenders = []
    for path in sorted((ROOT / "routing").glob("*.py")):
        if path.stem in USE_CASES:
            continue
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "routing" and any(part in USE_CASES for part in parts[1:]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_checker_itself_catches_a_wrong_direction(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ivr.webhooks import routes\nimport sim.phone\n")
    assert imports_of(bad) >= {"ivr.webhooks", "sim.phone"}


def test_nothing_reads_the_environment_outside_settings() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name in {"settings.py", "devrun.py"}:
                continue
            if "os.environ" in path.read_text() or "os.getenv" in path.read_text():
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
