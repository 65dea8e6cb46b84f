"""Contingency e-mail only over TLS with a certificate that checks out (STARTTLS for smtp://,
TLS from the start for smtps://), save to a local test sink the URL names plainly."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from config.settings import Settings
from lifeline.redis_server import free_port
from tests.conftest import make_settings
from tests.workers.conftest import Sink
from workers.email import NotSent, send_contingency

pytestmark = pytest.mark.anyio

PASSWORD = "a-mail-password"  # the test server's own


class Logins:
    """Accepts the one account, and keeps what each login said."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        assert isinstance(auth, LoginPassword)
        self.seen.append((auth.login.decode(), auth.password.decode()))
        return AuthResult(success=auth.password.decode() == PASSWORD)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def mail_server(sink: Sink, logins: Logins, **tls: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=logins,
        auth_require_tls=False,  # a server that would take a password in the clear
        **tls,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def settings_for(redis_url: str, url: str, ca_file: Path | None = None) -> Settings:
    return make_settings(
        redis_url,
        contingency_email_to="receiving@service.example",
        smtp_url=SecretStr(url),
        smtp_ca_file=str(ca_file) if ca_file else "",
    )


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def logins() -> Logins:
    return Logins()


@pytest.fixture
def starttls_port(sink: Sink, logins: Logins, ca: trustme.CA) -> Iterator[int]:
    yield from mail_server(sink, logins, tls_context=server_context(ca))


@pytest.fixture
def plain_port(sink: Sink, logins: Logins) -> Iterator[int]:
    yield from mail_server(sink, logins)


async def sent(settings: Settings) -> None:
    await send_contingency(settings, "CASE-1", "Contingency record", "the record")


def received(sink: Sink) -> list[Message]:
    return sink.messages


async def test_starttls_with_a_certificate_from_an_unknown_authority_sends_nothing(
    redis_url: str, sink: Sink, logins: Logins, starttls_port: int
) -> None:
    url = f"smtp://lifeline:{PASSWORD}@127.0.0.1:{starttls_port}"
    with pytest.raises(NotSent, match="CERTIFICATE_VERIFY_FAILED"):
        await sent(settings_for(redis_url, url))
    assert received(sink) == []
    assert logins.seen == []  # the password never left


async def test_a_server_without_starttls_gets_nothing_not_even_the_password(
    redis_url: str, sink: Sink, logins: Logins, plain_port: int
) -> None:
    url = f"smtp://lifeline:{PASSWORD}@127.0.0.1:{plain_port}"
    with pytest.raises(NotSent, match="offers no STARTTLS"):
        await sent(settings_for(redis_url, url))
    assert received(sink) == []
    assert logins.seen == []


async def test_smtps_with_a_certificate_from_an_unknown_authority_sends_nothing(
    redis_url: str, sink: Sink, logins: Logins, ca: trustme.CA
) -> None:
    for port in mail_server(sink, logins, ssl_context=server_context(ca)):
        url = f"smtps://lifeline:{PASSWORD}@127.0.0.1:{port}"
        with pytest.raises(NotSent, match="CERTIFICATE_VERIFY_FAILED"):
            await sent(settings_for(redis_url, url))
    assert received(sink) == []
    assert logins.seen == []


async def test_with_the_authority_trusted_the_record_and_login_go_over_tls(
    redis_url: str, sink: Sink, logins: Logins, starttls_port: int, ca: trustme.CA, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    url = f"smtp://lifeline:{PASSWORD}@127.0.0.1:{starttls_port}"
    await sent(settings_for(redis_url, url, ca_file))
    [mail] = received(sink)
    assert mail["Subject"] == "Contingency record"
    assert logins.seen == [("lifeline", PASSWORD)]


async def test_a_local_test_sink_named_plainly_takes_mail_without_tls(
    redis_url: str, sink: Sink, logins: Logins, plain_port: int
) -> None:
    await sent(settings_for(redis_url, f"smtp+insecure://127.0.0.1:{plain_port}"))
    assert len(received(sink)) == 1
