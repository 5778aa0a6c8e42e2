"""The stack's SMTP server: devstack/mailbox.py (aiosmtpd) as a child process."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping

from devstack.ports import HOST, PortReservation
from devstack.process import base_env
from devstack.service import EmbeddedService


def smtp_greets(port: int) -> bool:
    """The server is up when it sends its 220 greeting."""
    with socket.create_connection((HOST, port), timeout=1) as sock:
        sock.settimeout(2)
        return sock.recv(64).startswith(b"220")


class MailService(EmbeddedService):
    """SMTP on 127.0.0.1:<free port>, plain (no TLS, no auth); mail kept in ``<state>/mail``."""

    name = "mail"

    def reserve_ports(self, ports: PortReservation) -> None:
        ports.reserve("mail")

    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        port = ports["mail"]
        directory = self.data_dir  # what devstack.mailbox.mailbox_dir names
        argv = [
            sys.executable,
            "-m",
            "devstack.mailbox",
            "--host",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(directory),
        ]
        # Unbuffered: the greeting line reaches the log at once.
        proc = self.new_process(argv, env=base_env({"PYTHONUNBUFFERED": "1"}))
        proc.start()
        proc.wait_healthy(lambda: smtp_greets(port), timeout=self.ctx.health_timeout)
        return {"SMTP_HOST": HOST, "SMTP_PORT": str(port), "SMTP_TLS": "false"}
