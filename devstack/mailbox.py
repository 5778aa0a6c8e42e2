"""A local SMTP server that keeps every mail it receives, one ``.eml`` file per message.

Run by the stack as ``python -m devstack.mailbox --port N --dir DIR`` (aiosmtpd), so that
``sartiq dev`` and the tests send their mail (password recovery, invitations) through real
SMTP; ``sartiq mail`` and the tests read the directory back.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

# The envelope recipients, written above the message (a Bcc has no header of its own).
ENVELOPE_HEADER = "X-Mailbox-Envelope-To"


def mailbox_dir(state_dir: Path) -> Path:
    """Where the stack of ``state_dir`` keeps its mail (the mail service's data dir)."""
    return Path(state_dir) / "mail"


@dataclass(frozen=True)
class Mail:
    """One received message."""

    path: Path
    received_at: datetime
    envelope_to: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def to(self) -> str:
        return str(self.message["To"] or "")

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        # SMTP carries CRLF line ends; a reader wants plain newlines.
        text: str = part.get_content() if part is not None else ""
        return text.replace("\r\n", "\n")


def store(directory: Path, envelope_to: list[str], content: bytes) -> Path:
    """Write one message; readers never see a half-written file (rename is atomic)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    header = f"{ENVELOPE_HEADER}: {', '.join(envelope_to)}\r\n".encode()
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(header + content)
    target = directory / name
    os.replace(tmp, target)
    return target


def read(directory: Path) -> list[Mail]:
    """Every message in the directory, oldest first (an absent directory holds none)."""
    if not directory.is_dir():
        return []
    mails = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        to = tuple(a.strip() for a in str(message[ENVELOPE_HEADER] or "").split(",") if a)
        stamp = datetime.strptime(path.name.split("-", 1)[0], "%Y%m%dT%H%M%S%f")
        mails.append(Mail(path, stamp.replace(tzinfo=UTC), to, message))
    return mails


def show(state_dir: Path, *, full: bool, echo: Callable[[str], Any]) -> int:
    """`sartiq mail`: list the running stack's mail (with ``full``, the bodies too); the
    exit code."""
    stack_json = Path(state_dir) / "stack.json"
    if not stack_json.exists():
        echo(f"no running stack ({stack_json} is missing); start one with `sartiq dev`")
        return 1
    info = json.loads(stack_json.read_text())
    if "mail" not in info.get("started_services", []):
        host = info.get("env", {}).get("SMTP_HOST", "?")
        echo(f"this stack sends mail through SMTP_HOST={host}; none is kept here")
        return 1
    directory = mailbox_dir(Path(info["state_dir"]))
    mails = read(directory)
    echo(f"{len(mails)} message(s) in {directory}")
    for n, mail in enumerate(mails, 1):
        echo(f"{n:>3}  {mail.received_at:%Y-%m-%d %H:%M:%S}  {mail.to:<32}  {mail.subject}")
        if full:
            echo("")
            echo("\n".join(f"     {line}" for line in mail.body.splitlines()))
            echo("")
    return 0


class _Keeper:
    """aiosmtpd handler: every DATA is stored, nothing is relayed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        await asyncio.to_thread(store, self.directory, list(envelope.rcpt_tos), content)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    from aiosmtpd.smtp import SMTP

    keeper = _Keeper(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="sartiq-mailbox", ident="sartiq mailbox"), host, port
    )
    print(f"mailbox: SMTP on {host}:{port}, keeping mail in {directory}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
