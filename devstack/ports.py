"""Free TCP ports asked from the OS: one at a time (`free_port`, `bound_socket`), or named
and held until the services are about to bind them (`PortReservation`)."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Mapping

from devstack.errors import DevstackError

HOST = "127.0.0.1"
MAX_PORT = 65535


def _bind(port: int, host: str = HOST) -> socket.socket | None:
    """Bind a TCP socket to ``host:port`` (0 = any free port); None if that port is taken.

    SO_REUSEADDR, as every server sets it: a port whose server just stopped still has
    connections in TIME_WAIT, which would otherwise count as "taken" for a minute.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise
    return sock


def is_port_free(port: int, host: str = HOST) -> bool:
    """True if nothing is bound to ``host:port`` right now."""
    sock = _bind(port, host)
    if sock is None:
        return False
    sock.close()
    return True


def free_port(host: str = HOST) -> int:
    """One free port; it may be taken by someone else once this returns (a server that can
    take a bound socket should get :func:`bound_socket` instead)."""
    sock = _bind(0, host)
    assert sock is not None  # port 0 never collides
    with sock:
        return int(sock.getsockname()[1])


def bound_socket(host: str = HOST, port: int = 0) -> socket.socket:
    """A TCP socket bound (not listening) to ``host:port``, 0 = a port the OS picks.

    For a server started with it (uvicorn's ``--fd`` or ``serve(sockets=...)``): the port is
    ours from the moment it is chosen, so no other process can take it before the server
    listens. Raises OSError when that port is taken.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class PortReservation:
    """Named ports, each held by a bound (not listening) socket until :meth:`release`.

    Holding the sockets while every service picks its ports guarantees that no two names
    get the same port, and that no other process is handed them by the OS meanwhile.
    Ports remembered from a previous run are preferred when still free, so the URLs of a
    developer's stack stay the same from one ``sartiq dev`` to the next.
    """

    def __init__(self, remembered: Mapping[str, int] | None = None, host: str = HOST) -> None:
        self.host = host
        self._remembered = dict(remembered or {})
        self._held: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}

    def _hold(self, name: str, sock: socket.socket) -> int:
        port = int(sock.getsockname()[1])
        self._held[name] = sock
        self.ports[name] = port
        return port

    def _try_remembered(self, name: str) -> socket.socket | None:
        port = self._remembered.get(name)
        if not port or port in self.ports.values():
            return None
        return _bind(port, self.host)

    def reserve(self, name: str) -> int:
        """A free port for ``name`` (the same one as last run if it is still free)."""
        if name in self.ports:
            return self.ports[name]
        sock = self._try_remembered(name) or _bind(0, self.host)
        assert sock is not None
        return self._hold(name, sock)

    def reserve_pair(self, name: str, other: str, offset: int) -> tuple[int, int]:
        """Two free ports with ``ports[other] == ports[name] + offset``.

        Needed where a program derives one port from another instead of reading its flag
        (SeaweedFS's plugin worker dials the admin gRPC port at admin port + 10000).
        """
        if name in self.ports and other in self.ports:
            return self.ports[name], self.ports[other]
        first = self._try_remembered(name)
        if first is not None:
            second = _bind(int(first.getsockname()[1]) + offset, self.host)
            if second is not None:
                return self._hold(name, first), self._hold(other, second)
            first.close()
        for _ in range(100):
            # Ask the OS for the upper port (ephemeral range is ~32768-60999) so the lower
            # one, ``offset`` below it, is always a valid port number.
            upper = _bind(0, self.host)
            assert upper is not None
            base = int(upper.getsockname()[1]) - offset
            lower = _bind(base, self.host) if 1024 <= base <= MAX_PORT else None
            if lower is not None:
                return self._hold(name, lower), self._hold(other, upper)
            upper.close()
        raise DevstackError(f"no free pair of ports {offset} apart for {name}/{other}")

    def release(self) -> dict[str, int]:
        """Close the holding sockets (just before the services bind) and return the ports."""
        for sock in self._held.values():
            with contextlib.suppress(OSError):
                sock.close()
        self._held.clear()
        return dict(self.ports)

    def __del__(self) -> None:
        self.release()
