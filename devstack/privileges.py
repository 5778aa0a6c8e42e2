"""Running a server as an unprivileged user when we are root (postgres refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import DevstackError

# A dedicated account rather than the distribution's "postgres": stopping or chowning
# things of ours must never touch a system PostgreSQL running on the same machine.
SERVICE_USER = "sartiq-pg"


@dataclass(frozen=True)
class RunAs:
    """Who a server process runs as; ``None`` from :func:`service_user` means "as us"."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]


def service_user(name: str = SERVICE_USER) -> RunAs | None:
    """The unprivileged account to run servers as when we are root, created if missing.

    Returns None when we are not root: then servers simply run as the current user.
    """
    if os.geteuid() != 0:
        return None
    entry = _lookup(name)
    if entry is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [useradd, "--system", "--user-group", "--no-create-home"]
        cmd += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
        # Two stacks starting at once (parallel test runs) may both try: the loser's
        # useradd fails on the lock or "already exists", which a re-lookup settles.
        for _ in range(10):
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            entry = _lookup(name)
            if entry is not None:
                break
            time.sleep(0.2)
        if entry is None:
            raise DevstackError(
                f"could not create system user {name!r} to run postgres as non-root: "
                f"{' '.join(cmd)} -> {result.returncode}: {result.stderr.strip()}"
            )
    groups = frozenset(
        g for g in (entry.pw_gid, *os.getgrouplist(entry.pw_name, entry.pw_gid)) if g >= 0
    )
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def make_traversable(path: Path, user: RunAs, log: Callable[[str], None]) -> None:
    """Let ``user`` reach ``path`` by adding the missing search (x) bit on its ancestors.

    Only the bit the user actually needs is added (owner, group or other), and each change
    is logged: e.g. pytest's /tmp/pytest-of-root is 0700 and becomes 0701.
    """
    for folder in reversed([path, *path.parents]):
        try:
            st = folder.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in user.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            folder.chmod(stat.S_IMODE(st.st_mode) | bit)
            log(f"made {folder} traversable for user {user.name} (needed by postgres)")


def chown_tree(path: Path, user: RunAs) -> None:
    """Give ``path`` and everything below it to ``user`` (skipped if already theirs)."""
    if path.stat().st_uid == user.uid:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, user.uid, user.gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)
