"""Contingency records by e-mail to the receiving service, while the clinical system is down."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

from lifeline.settings import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10


def message(settings: Settings, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.contingency_email_from
    mail["To"] = settings.contingency_email_to
    mail["Subject"] = subject
    mail.set_content(body)
    return mail


def send(settings: Settings, mail: EmailMessage) -> None:
    parts = urlsplit(settings.smtp_url)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    host = parts.hostname or "localhost"
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if parts.username:
            smtp.login(parts.username, parts.password or "")
        smtp.send_message(mail)


async def send_contingency(settings: Settings, case_id: str, subject: str, body: str) -> bool:
    """Send if an address is configured; True if sent. A failure is logged, never raised: the
    journal already holds the record, and e-mail is a courtesy copy."""
    if not settings.contingency_email_to or not settings.smtp_url:
        return False
    try:
        await asyncio.to_thread(send, settings, message(settings, subject, body))
    except (OSError, smtplib.SMTPException) as error:
        log.warning("contingency e-mail not sent: %s", error, extra={"case_id": case_id})
        return False
    return True
