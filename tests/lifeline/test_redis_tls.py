"""Redis over TLS (`rediss://`) with an ACL user and password: every process's client and RQ work
with it, a server whose certificate does not check out is refused, and the password is never
shown."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme
from click.testing import CliRunner

from config.redis_client import sync_client
from lifeline.cli import main
from lifeline.redis_server import find_redis_server, free_port
from tests.console.web.test_cli_and_first_run import environment
from tests.e2e.stack import BIN

PASSWORD = "an-acl-password-0123"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_redis(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A redis-server taking TLS only, and only the user `lifeline` with its password."""
    cert = ca.issue_cert("127.0.0.1")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    port = free_port()
    command = [
        find_redis_server(),
        "--port", "0",
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--tls-cert-file", str(files["cert"]),
        "--tls-key-file", str(files["key"]),
        "--tls-ca-cert-file", str(files["ca"]),
        "--tls-auth-clients", "no",
        "--save", "",
        "--dir", str(tmp_path),
        "--user", "default", "off",
        "--user", "lifeline", "on", f">{PASSWORD}", "~*", "&*", "+@all",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = url_for(port, files["ca"])
        deadline = time.monotonic() + 10
        while True:
            try:
                sync_client(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the TLS redis-server did not start"
                time.sleep(0.05)
        yield port, files["ca"]
    finally:
        server.terminate()
        server.wait(10)


def url_for(port: int, ca_file: Path) -> str:
    return f"rediss://lifeline:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={ca_file}"


def test_the_command_line_and_a_worker_run_on_redis_over_tls_with_a_password(
    tls_redis: tuple[int, Path],
) -> None:
    port, ca_file = tls_redis
    env = environment(url_for(port, ca_file))
    listed = CliRunner().invoke(main, ["user", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    # A process of its own, as deployed (a worker sets up the process's logging).
    worker = [str(BIN / "lifeline"), "worker", "--burst", "--queues", "housekeeping"]
    worked = subprocess.run(worker, env=env | {"PATH": ""}, capture_output=True, text=True)
    assert worked.returncode == 0, worked.stderr
    assert PASSWORD not in listed.output + worked.stdout + worked.stderr


def test_a_redis_whose_certificate_does_not_check_out_is_refused_without_the_password(
    tls_redis: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = tls_redis
    stranger = tmp_path / "another-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    result = CliRunner().invoke(main, ["user", "list"], env=environment(url_for(port, stranger)))
    assert result.exit_code == 2
    assert "lifeline: Redis (REDIS_URL) cannot be reached" in result.output
    assert PASSWORD not in result.output
