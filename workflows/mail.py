"""MailWorkflow: hand one mail to the SMTP server, durably.

A request that asks for a mail (password recovery, an invitation) starts this run and
answers at once: the request's time never depends on the SMTP server, and a server that
is down or refuses for a while only delays the mail (retried with the MAIL policy until
MAIL_DEADLINE_SECONDS), where a background task of the API process lost it with the
process or at the first error. A server's permanent refusal (5xx) ends the run `failed`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mail import MailActivities
    from workflows.mail_types import MailInput
    from workflows.retry_policies import MAIL
    from workflows.run_status import ends_with_status, show

# One SMTP conversation, connect to QUIT (smtplib's own timeout is 10 s per operation).
SEND_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="MailWorkflow")
class MailWorkflow:
    @workflow.run
    @ends_with_status
    async def run(self, data: MailInput) -> str:
        show(f"sending the {data.kind.replace('_', ' ')} mail")
        outcome: str = await workflow.execute_activity_method(
            MailActivities.send,
            data,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=timedelta(seconds=data.deadline_seconds),
            retry_policy=MAIL,
        )
        show(outcome.replace("_", " "))
        return outcome
