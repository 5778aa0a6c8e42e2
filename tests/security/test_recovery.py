"""Password recovery tells nobody whether an address has an account: the same answer, and
the same time, whatever the address and whatever the SMTP server does: the request only
starts the mail's run (MailWorkflow), which looks the address up and sends."""

from __future__ import annotations

import time
import uuid

import httpx
from temporalio.client import Client

from core.config import Settings
from tests.helpers import Api, UserHandle
from tests.mail_stack import mail_stack
from tests.mailbox import Mailbox
from tests.smtp_relay import SmtpRelay

SMTP_DELAY = 2.0
# Volatile by nature: when, which request, how much of the rate limit is left.
VOLATILE_HEADERS = {"date", "x-request-id", "ratelimit-reset", "ratelimit-remaining"}


def _missing_address() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@example.com"


async def test_recovery_answers_the_same_whether_the_address_exists(
    api: Api, user: UserHandle, mailbox: Mailbox
) -> None:
    missing = _missing_address()
    absent = await api.post(f"/password-recovery/{missing}")
    present = await api.post(f"/password-recovery/{user.email}")
    assert (absent.status_code, absent.content) == (present.status_code, present.content)
    assert absent.status_code == 200

    def headers(r: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}

    assert headers(absent) == headers(present)
    # Only the account gets a mail (sent after the answer: wait for it).
    await mailbox.wait_for(user.email, containing="reset-password?token=")
    assert await mailbox.messages_to(missing) == []


async def test_recovery_time_does_not_depend_on_the_smtp_server(
    settings: Settings, temporal: Client, user: UserHandle, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST, "the tests' stack runs an SMTP server"
    async with (
        SmtpRelay(settings.SMTP_HOST, settings.SMTP_PORT, delay=SMTP_DELAY) as slow,
        mail_stack(settings, temporal, smtp_port=slow.port) as stack,
    ):
        took = {}
        for label, address in (("absent", _missing_address()), ("present", user.email)):
            began = time.monotonic()
            r = await stack.api.post(f"/password-recovery/{address}")
            took[label] = time.monotonic() - began
            assert r.status_code == 200, r.text
        # Both answer long before the SMTP server has even greeted.
        assert max(took.values()) < SMTP_DELAY / 2, took
        # ... and the account's mail still arrives, through the slow server, afterwards.
        began = time.monotonic()
        await mailbox.wait_for(user.email, containing="reset-password?token=")
        assert time.monotonic() - began > SMTP_DELAY / 2
