"""Mail goes out through real SMTP (the stack's mailbox in dev and tests): invitations name
the organization and how to accept, tenant text never breaks a header, and `sartiq mail`
lists what the running stack's server received."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

from core.config import Settings
from devstack.mailbox import mailbox_dir, read, store
from tests.helpers import ROOT, Api, UserHandle
from tests.mailbox import Mailbox


def _address() -> str:
    return f"mail-{uuid.uuid4().hex[:12]}@example.com"


async def test_invitation_mail_names_the_organization_and_how_to_accept(
    api: Api, user: UserHandle, mailbox: Mailbox, settings: Settings
) -> None:
    email = _address()
    invitation = await api.invite(user.orgs[0], user, email, "admin")
    [mail] = await mailbox.wait_for(email)
    assert mail.envelope_to == (email,)
    assert mail.message["From"] == settings.EMAILS_FROM_EMAIL
    assert f"Org of {user.email}" in mail.subject
    assert f"join Org of {user.email}" in mail.body and "as admin" in mail.body
    assert f"{settings.FRONTEND_HOST}/invitations/{invitation['id']}" in mail.body
    assert f"/invitations/{invitation['id']}/accept" in mail.body


async def test_organization_name_cannot_add_a_header_to_the_mail(
    api: Api, user: UserHandle, mailbox: Mailbox
) -> None:
    org = await api.create(
        "/organizations/", {"name": "Evil\r\nBcc: victim@example.com\r\n\r\nbody"}, as_=user
    )
    email = _address()
    await api.invite(org["id"], user, email)
    [mail] = await mailbox.wait_for(email)
    assert mail.envelope_to == (email,)
    assert mail.message["Bcc"] is None
    assert "\n" not in mail.subject and "Evil Bcc: victim@example.com body" in mail.subject


async def test_mailbox_keeps_every_message_with_its_envelope(
    settings: Settings, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST
    to, hidden = _address(), _address()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", to, "Hello"
    message.set_content("Line one\nLine two\n")
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=[to, hidden])  # `hidden` as a Bcc would be
    [mail] = await mailbox.wait_for(hidden)
    assert mail.envelope_to == (to, hidden)
    assert (mail.to, mail.subject, mail.body) == (to, "Hello", "Line one\nLine two\n")


def _sartiq_mail(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "mail", "--state-dir", str(state_dir), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sartiq_mail_lists_the_running_stack_messages(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _sartiq_mail(state).returncode == 1  # no stack.json: no running stack
    state.mkdir()
    info = {"started_services": ["mail"], "state_dir": str(state), "env": {}}
    (state / "stack.json").write_text(json.dumps(info))
    for n in (1, 2):
        body = f"To: someone@example.com\r\nSubject: Message {n}\r\n\r\nBody {n}\r\n"
        store(mailbox_dir(state), ["someone@example.com"], body.encode())
    assert [m.subject for m in read(mailbox_dir(state))] == ["Message 1", "Message 2"]

    listed = _sartiq_mail(state)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("2 message(s)")
    assert "someone@example.com" in lines[1] and lines[1].endswith("Message 1")
    assert lines[2].endswith("Message 2") and "Body 1" not in listed.stdout
    assert "Body 2" in _sartiq_mail(state, "--full").stdout

    info["started_services"], info["env"] = [], {"SMTP_HOST": "smtp.example.com"}
    (state / "stack.json").write_text(json.dumps(info))
    external = _sartiq_mail(state)
    assert external.returncode == 1 and "SMTP_HOST=smtp.example.com" in external.stdout
