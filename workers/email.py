"""Contingency records by e-mail to the receiving service, while the clinical system is down."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from config.settings import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10


def message(settings: Settings, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.contingency_email_from
    mail["To"] = settings.contingency_email_to
    mail["Subject"] = subject
    mail.set_content(body)
    return mail


class NoTls(smtplib.SMTPException):
    """The server would take the record, and any password, in the clear."""


def tls(settings: Settings) -> ssl.SSLContext:
    """Certificates checked against the system's authorities (and SMTP_CA_FILE's), host name
    included: a server that cannot prove who it is gets neither the record nor the password."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def send(settings: Settings, mail: EmailMessage) -> None:
    parts = urlsplit(settings.smtp_url.get_secret_value())
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    host = parts.hostname or "localhost"
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_SECONDS, context=tls(settings))
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if parts.scheme == "smtp":  # smtp+insecure: a local test sink, said so in the URL
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise NoTls("the mail server offers no STARTTLS")
            smtp.starttls(context=tls(settings))
            smtp.ehlo()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(mail)


class NotSent(Exception):
    """The mail server could not be reached or refused the message."""


def configured(settings: Settings) -> bool:
    return bool(settings.contingency_email_to and settings.smtp_url.get_secret_value())


async def send_contingency(settings: Settings, case_id: str, subject: str, body: str) -> None:
    """Send a contingency record; NotSent says why it was not (never the record itself)."""
    try:
        await asyncio.to_thread(send, settings, message(settings, subject, body))
    except (OSError, smtplib.SMTPException) as error:  # ssl.SSLError is an OSError
        raise NotSent(f"{type(error).__name__}: {error}") from None
    log.info("contingency e-mail sent", extra={"case_id": case_id})
