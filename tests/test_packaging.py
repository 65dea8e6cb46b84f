"""A built wheel, installed on its own (not an editable install), holds and runs all of Lifeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from prompts.catalogue import Locale

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = ("tests",)
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")

# Run by the installed wheel alone: every module imports, the commands answer --help, and what
# the code reads from its packages (prompts, rules, templates, static files) is there.
CHECKS = """
import importlib, json, pkgutil, sys
import click
from starlette.applications import Starlette
from starlette.testclient import TestClient
import config, console, ivr, lifeline, prompts, routing, sim, workers
from console.web.routes import STATIC, static
from console.web.templates import Templates
from lifeline.cli import main
from prompts.catalogue import Locale, load_catalogue
from routing.rules import default_rules
from sim.cli import main as sim_main

packages = (config, console, ivr, lifeline, prompts, routing, sim, workers)
modules = sorted(
    found.name
    for package in packages
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
)
for name in modules:
    if not name.endswith(".__main__"):  # runs the command: called with --help below instead
        importlib.import_module(name)
helps = []
for command in (main, sim_main):
    try:
        command(["--help"], prog_name="lifeline")
    except SystemExit as stop:
        helps.append(stop.code)
catalogue = load_catalogue()
locales = []
for locale in Locale:
    try:
        catalogue.voice(locale)
    except KeyError:  # a locale whose file is missing is left out, not an error
        continue
    locales.append(locale.value)
templates = Templates().env
with TestClient(Starlette(routes=[static()])) as client:
    css = client.get(STATIC + "/console.css")
print(json.dumps({
    "origins": sorted({package.__file__ for package in packages}),
    "modules": modules,
    "helps": helps,
    "locales": sorted(locales),
    "rules": bool(default_rules().skills),
    "templates": sorted(templates.list_templates()),
    "compiled": all(templates.get_template(name) for name in templates.list_templates()),
    "css": css.status_code,
}))
"""


def project_packages() -> list[str]:
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and path.name not in NOT_SHIPPED
    )


def shipped_sources() -> dict[str, set[str]]:
    """Each package of the checkout (dotted name) and the files it ships (.py and data)."""
    found: dict[str, set[str]] = {}
    for top in project_packages():
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found[".".join(init.parent.relative_to(ROOT).parts)] = set()
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


class Built(NamedTuple):
    path: Path
    log: str


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-cache-dir"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel built from a copy of the checkout (a build leaves build/ and *.egg-info behind,
    which must not reach the checkout: a stale build/ would slip old files into later builds)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for top in [*project_packages(), *NOT_SHIPPED]:
        shutil.copytree(ROOT / top, source / top, ignore=CACHES)
    out = tmp_path_factory.mktemp("dist")
    # The venv's own setuptools (no isolated environment to download), verbose to show warnings.
    build = pip(
        "wheel", "--no-deps", "--no-build-isolation", "--verbose", "-w", str(out), str(source)
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("lifeline-*.whl")
    return Built(built, build.stdout + build.stderr)


def test_building_warns_of_no_package_left_undeclared(wheel: Built) -> None:
    assert "is absent from the `packages` configuration" not in wheel.log, wheel.log


def test_the_wheel_holds_every_package_and_data_file_and_no_tests(wheel: Built) -> None:
    names = set(zipfile.ZipFile(wheel.path).namelist())
    for package, files in shipped_sources().items():
        init = package.replace(".", "/") + "/__init__.py"
        assert init in names, f"{package} is not in the wheel"
        assert files <= names, f"missing from the wheel: {sorted(files - names)}"
    assert [name for name in names if name.split("/")[0] in NOT_SHIPPED] == []
    assert [name for name in names if "__pycache__" in name] == []
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    commands = zipfile.ZipFile(wheel.path).read(entry_points).decode()
    assert "lifeline = lifeline.cli:main" in commands
    assert "lifeline-sim = sim.cli:main" in commands


def test_the_installed_wheel_imports_and_finds_its_prompts_rules_and_templates(
    wheel: Built, tmp_path: Path
) -> None:
    target = tmp_path / "installed"
    install = pip("install", "--no-deps", "--no-compile", "--target", str(target), str(wheel.path))
    assert install.returncode == 0, install.stdout + install.stderr
    # -S: without site, the venv's editable install (a .pth file) cannot put the checkout on
    # the path; the dependencies come from the venv's site-packages, after the wheel's files.
    dependencies = sysconfig.get_paths()["purelib"]
    run = subprocess.run(
        [sys.executable, "-S", "-c", CHECKS],
        cwd=tmp_path,  # not the checkout, whose packages would import from the current directory
        env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{target}{os.pathsep}{dependencies}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.splitlines()[-1])

    assert all(origin.startswith(str(target)) for origin in result["origins"]), result["origins"]
    in_checkout = sorted(
        ".".join(path.with_suffix("").relative_to(ROOT).parts).removesuffix(".__init__")
        for top in project_packages()
        for path in (ROOT / top).rglob("*.py")
        if path.parent != ROOT / top or path.name != "__init__.py"
    )
    assert result["modules"] == in_checkout
    assert result["helps"] == [0, 0]
    assert result["locales"] == sorted(locale.value for locale in Locale)
    assert result["rules"] is True
    assert result["templates"] == sorted(
        path.name for path in (ROOT / "console" / "templates").iterdir()
    )
    assert result["compiled"] is True
    assert result["css"] == 200
