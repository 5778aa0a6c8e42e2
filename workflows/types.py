"""Every workflow and activity payload: small dataclasses of ids, keys and counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionCleanupInput:
    # Keep revoked/expired sessions this long for audit before deleting them.
    retention_hours: int = 24


@dataclass(frozen=True)
class SessionCleanupResult:
    deleted: int
