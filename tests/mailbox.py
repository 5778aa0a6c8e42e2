"""The tests read the mail the app sent from the SMTP server's store (devstack/mailbox.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from devstack.mailbox import Mail, read
from tests.helpers import eventually

# Names the mailbox directory of the tests' SMTP server (set by the stack_env fixture, or
# by whoever gives SMTP_HOST with a server that keeps mail in such a directory).
MAILBOX_VAR = "SARTIQ_MAILBOX_DIR"


class Mailbox:
    """Read-only view of the mailbox directory; mails are told apart by their recipient
    (every test signs up addresses of its own)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def messages_to(self, address: str) -> list[Mail]:
        mails = await asyncio.to_thread(read, self.directory)
        return [m for m in mails if address.lower() in (a.lower() for a in m.envelope_to)]

    async def wait_for(
        self, address: str, *, containing: str = "", count: int = 1, within: float = 15.0
    ) -> list[Mail]:
        """The mails to `address` (whose body contains `containing`) once at least `count`
        have arrived: sending is in the background, so the request that causes a mail
        returns before it is delivered."""

        async def arrived() -> list[Mail] | None:
            mails = [m for m in await self.messages_to(address) if containing in m.body]
            return mails if len(mails) >= count else None

        return await eventually(arrived, within=within, what=f"{count} mail(s) to {address}")

    async def link(self, address: str, pattern: str, *, within: float = 15.0) -> str:
        """The first match of `pattern` (its group 1) in the newest mail to `address`."""
        mail = (await self.wait_for(address, within=within))[-1]
        found = re.search(pattern, mail.body)
        assert found, f"no {pattern!r} in the mail to {address}: {mail.body}"
        return found.group(1)
