"""Outgoing e-mail: SMTP when configured, else the log (development only).

Mails are sent by MailWorkflow's activity (activities/mail.py), never from a request: the
request that asks for one starts the run and answers at once.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from core.config import Settings

log = logging.getLogger(__name__)


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    assert settings.SMTP_HOST
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=10) as smtp:
        if settings.SMTP_TLS:
            smtp.starttls()
        if settings.SMTP_USER and settings.SMTP_PASSWORD:
            smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
        smtp.send_message(message)


def permanent_refusal(error: smtplib.SMTPException) -> bool:
    """Whether the server refused for good (a 5xx reply, or every recipient refused with
    one): sending again cannot help. A 4xx or a broken connection may pass later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600


async def send_email(
    settings: Settings, *, to: str, subject: str, body: str, message_id: str | None = None
) -> bool:
    """Hand the mail to the SMTP server (True), or log it (False). Raises what smtplib
    raises (`smtplib.SMTPException`, `OSError`); `message_id` lets a receiver drop a copy
    of a mail sent twice (an attempt that died between the server's answer and its record)."""
    message = EmailMessage()
    message["From"] = settings.EMAILS_FROM_EMAIL
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    if settings.SMTP_HOST:
        await asyncio.to_thread(_send_smtp, settings, message)
        return True
    if settings.is_development:
        # No SMTP in development: the mail (which may carry a reset link) goes to the log.
        log.info("e-mail to %s: %s\n%s", to, subject, body)
    else:
        # Outside development a reset link is a secret: never write it to the log.
        log.warning("SMTP is not configured; e-mail to %s (%s) was not sent", to, subject)
    return False
