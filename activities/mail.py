"""MailWorkflow's activity: compose the mail when it is sent, hand it to SMTP once.

Once: a mail that got out is marked in Redis under its run's workflow id, so a retried
attempt or a second run of the same mail sends nothing; the `Message-ID` derives from that
id too, so the one window left (the server accepted, the attempt died before the mark)
yields a copy a receiver can recognise. A mail is at least once, never silently dropped.
"""

from __future__ import annotations

import logging
import smtplib
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.config import Settings
from core.db import session_scope
from services import auth, invitations
from services.email import permanent_refusal, send_email
from workflows.mail_types import (
    ALREADY_SENT,
    INVITATION,
    NOT_CONFIGURED,
    NOTHING_TO_SEND,
    PASSWORD_RECOVERY,
    SENT,
    MailInput,
)

log = logging.getLogger(__name__)

# Longer than any run of a mail lives (MAIL_DEADLINE_SECONDS is at most a day).
SENT_MARK_SECONDS = 7 * 24 * 3600


class MailActivities:
    def __init__(
        self, *, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.redis = redis

    @activity.defn(name="mail.send")
    async def send(self, data: MailInput) -> str:
        workflow_id = activity.info().workflow_id
        mark = f"mail:sent:{workflow_id}"
        if await self.redis.exists(mark):
            return ALREADY_SENT
        composed = await self._compose(data)
        if composed is None:
            return NOTHING_TO_SEND
        to, subject, body = composed
        try:
            sent = await send_email(
                self.settings,
                to=to,
                subject=subject,
                body=body,
                message_id=f"<{workflow_id}@{self.settings.EMAILS_FROM_EMAIL.rpartition('@')[2]}>",
            )
        except smtplib.SMTPException as error:
            # Never the body in an error (it may hold a reset link): the server's answer.
            message = f"SMTP refused the {data.kind} mail: {error!r}"
            raise ApplicationError(
                message, type="MailRefused", non_retryable=permanent_refusal(error)
            ) from None
        except OSError as error:
            raise ApplicationError(
                f"SMTP server unreachable: {error!r}", type="MailServerUnreachable"
            ) from None
        await self.redis.set(mark, "1", ex=SENT_MARK_SECONDS)
        return SENT if sent else NOT_CONFIGURED

    async def _compose(self, data: MailInput) -> tuple[str, str, str] | None:
        async with session_scope(self.sessionmaker) as session:
            if data.kind == PASSWORD_RECOVERY and data.email:
                return await auth.recovery_mail(session, self.settings, data.email)
            if data.kind == INVITATION and data.invitation_id:
                return await invitations.mail_for(
                    session, self.settings, uuid.UUID(data.invitation_id)
                )
        raise ApplicationError(f"not a mail: {data!r}", type="InvalidMail", non_retryable=True)
