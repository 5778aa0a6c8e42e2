"""Payloads of MailWorkflow."""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD_RECOVERY = "password_recovery"
INVITATION = "invitation"
KINDS = (PASSWORD_RECOVERY, INVITATION)

# What a run did (its result, also in the UI's current details).
SENT = "sent"
ALREADY_SENT = "already_sent"  # an earlier attempt or run of this mail got it out
NOTHING_TO_SEND = "nothing_to_send"  # no such active account, or the invitation is closed
NOT_CONFIGURED = "not_configured"  # no SMTP server outside development: logged, not sent


@dataclass(frozen=True)
class MailInput:
    """Which mail, never its text: the activity composes it when it sends, so a reset link
    (a secret) is minted then and never written to the run's history.

    A recovery mail names the address that was asked for, whether or not an account has it
    (the request answers the same either way); an invitation mail names the invitation."""

    kind: str
    email: str | None = None
    invitation_id: str | None = None
    # The run's deadline (MAIL_DEADLINE_SECONDS when started): SMTP unreachable that long
    # ends the run `failed`.
    deadline_seconds: int = 6 * 3600
