"""A mail is a MailWorkflow run: it waits out an SMTP server that is away, goes out once
however often it is retried or run again, ends `failed` at once on a permanent refusal, and
sends nothing for an invitation that closed or an address without an account."""

from __future__ import annotations

import uuid

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from core.config import Settings
from core.temporal import STATUS
from devstack.ports import free_port
from tests.helpers import UserHandle, eventually
from tests.mail_stack import failed_attempts, mail_stack
from tests.mailbox import Mailbox
from tests.smtp_relay import SmtpRelay
from tests.workflows.conftest import record_history
from workflows.mail import MailWorkflow
from workflows.mail_types import (
    ALREADY_SENT,
    NOTHING_TO_SEND,
    PASSWORD_RECOVERY,
    SENT,
    MailInput,
)

RESULT_WITHIN = 60.0


def _address() -> str:
    return f"mail-{uuid.uuid4().hex[:12]}@example.com"


async def test_a_mail_waits_out_an_smtp_outage_and_goes_out_once(
    settings: Settings, temporal: Client, user: UserHandle, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST
    port = free_port()  # nothing listens there yet: the SMTP server is down
    async with mail_stack(settings, temporal, smtp_port=port) as stack:
        r = await stack.api.post(f"/password-recovery/{user.email}")
        assert r.status_code == 200, r.text
        [run] = await stack.mail_runs(1)

        async def failed_once() -> int | None:
            return await failed_attempts(run) or None

        await eventually(failed_once, within=30, what="a refused connection")
        assert await mailbox.messages_to(user.email) == []
        # The server comes back where the worker expects it; the next attempt sends.
        async with SmtpRelay(settings.SMTP_HOST, settings.SMTP_PORT, listen=port):
            assert await run.result(rpc_timeout=None) == SENT
        [mail] = await mailbox.wait_for(user.email, containing="reset-password?token=")
        assert mail.message["Message-ID"].startswith(f"<{run.id}@")
        await record_history(run, "mail_sent")

        # The same mail run again (a retry after the send, a duplicate start): nothing more.
        again = await temporal.start_workflow(
            MailWorkflow.run,
            MailInput(kind=PASSWORD_RECOVERY, email=user.email),
            id=run.id,
            task_queue=stack.queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        assert await again.result() == ALREADY_SENT
        assert len(await mailbox.messages_to(user.email)) == 1


class _Refusing:
    """An SMTP server that refuses every recipient for good (550)."""

    def __init__(self) -> None:
        self.refused = 0

    async def handle_RCPT(  # aiosmtpd's hook name
        self, server: object, session: object, envelope: object, address: str, options: list[str]
    ) -> str:
        self.refused += 1
        return "550 5.1.1 no such mailbox here"


async def test_a_permanent_refusal_ends_the_run_failed_at_once(
    settings: Settings, temporal: Client, user: UserHandle
) -> None:
    handler = _Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        async with mail_stack(settings, temporal, smtp_port=controller.port) as stack:
            await stack.api.post(f"/password-recovery/{user.email}")
            [run] = await stack.mail_runs(1)
            with pytest.raises(WorkflowFailureError) as failure:
                await run.result()
            refusal = failure.value.cause.cause  # the activity's ApplicationError
            assert isinstance(refusal, ApplicationError) and refusal.non_retryable
            assert refusal.type == "MailRefused" and "550" in refusal.message
            assert handler.refused == 1  # not retried
            assert (await run.describe()).typed_search_attributes.get(STATUS) == "failed"
    finally:
        controller.stop()


async def test_nothing_is_sent_to_an_address_without_an_account(
    settings: Settings, temporal: Client, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST
    missing = _address()
    async with mail_stack(settings, temporal, smtp_port=settings.SMTP_PORT) as stack:
        assert (await stack.api.post(f"/password-recovery/{missing}")).status_code == 200
        [run] = await stack.mail_runs(1)
        assert await run.result() == NOTHING_TO_SEND
    assert await mailbox.messages_to(missing) == []


async def test_an_invitation_revoked_while_smtp_is_down_is_never_mailed(
    settings: Settings, temporal: Client, user: UserHandle, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST
    port = free_port()
    email = _address()
    async with mail_stack(settings, temporal, smtp_port=port) as stack:
        invitation = await stack.api.invite(user.orgs[0], user, email)
        [run] = await stack.mail_runs(1)

        async def failed_once() -> int | None:
            return await failed_attempts(run) or None

        await eventually(failed_once, within=30, what="a refused connection")
        path = f"/organizations/{user.orgs[0]}/invitations/{invitation['id']}"
        assert (await stack.api.delete(path, as_=user)).status_code == 204
        async with SmtpRelay(settings.SMTP_HOST, settings.SMTP_PORT, listen=port):
            assert await run.result() == NOTHING_TO_SEND
    assert await mailbox.messages_to(email) == []
