"""Outgoing e-mail: SMTP when configured, else the log (development only)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from core.config import Settings

log = logging.getLogger(__name__)

# Mails being sent off the request path. The event loop keeps only weak references to
# tasks: without this set a send could be garbage-collected halfway.
_sending: set[asyncio.Task[None]] = set()


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    assert settings.SMTP_HOST
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=10) as smtp:
        if settings.SMTP_TLS:
            smtp.starttls()
        if settings.SMTP_USER and settings.SMTP_PASSWORD:
            smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
        smtp.send_message(message)


async def send_email(settings: Settings, *, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.EMAILS_FROM_EMAIL
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if settings.SMTP_HOST:
        await asyncio.to_thread(_send_smtp, settings, message)
    elif settings.is_development:
        # No SMTP in development: the mail (which may carry a reset link) goes to the log.
        log.info("e-mail to %s: %s\n%s", to, subject, body)
    else:
        # Outside development a reset link is a secret: never write it to the log.
        log.warning("SMTP is not configured; e-mail to %s (%s) was not sent", to, subject)


async def _send_logged(settings: Settings, to: str, subject: str, body: str) -> None:
    try:
        await send_email(settings, to=to, subject=subject, body=body)
    except Exception as exc:
        # Nobody waits for this mail: whatever failed can only be logged (never the body,
        # which may hold a reset link).
        log.warning("e-mail to %s (%s) not sent: %r", to, subject, exc)


def send_email_soon(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send in the background and return at once: the request that asks for a mail takes
    the same time whatever the SMTP server does (or whether a mail is sent at all)."""
    task = asyncio.get_running_loop().create_task(_send_logged(settings, to, subject, body))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def wait_sent(within: float) -> None:
    """Wait (bounded) for the mails still being sent, e.g. before the process exits."""
    pending = list(_sending)
    if pending:
        await asyncio.wait(pending, timeout=within)
