"""Test harness: real services from devstack (or given by env vars), one per test session.

Each session gets its own database (migrated with the real Alembic migrations) so runs
never share state with `sartiq dev` or with each other.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.config import Settings, get_settings
from devstack.database import create_database, drop_database, migrate_database, with_database
from devstack.limits import raised_rate_limits
from devstack.mailbox import mailbox_dir
from devstack.registry import REPLACED_BY
from tests.helpers import Api, UserHandle
from tests.mailbox import MAILBOX_VAR, Mailbox

# compute_sim and the worker, once per session for every directory that needs them.
pytest_plugins = ("tests.stack_fixtures",)

# Unset, ENVIRONMENT means production (which refuses the dev secrets): every Settings this
# process builds, and every process it starts, runs as `test` unless a test says otherwise.
os.environ.setdefault("ENVIRONMENT", "test")


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """Connection variables for every service, starting embedded ones where none is given."""
    # Every service, the SMTP mailbox (devstack/mailbox.py) the tests read mail from too.
    missing = [svc for svc, var in REPLACED_BY.items() if not os.environ.get(var)]
    env = {k: v for k, v in os.environ.items() if k.startswith(("R2_", "TEMPORAL_", "SMTP_"))}
    env.update({v: os.environ[v] for v in REPLACED_BY.values() if os.environ.get(v)})
    if os.environ.get(MAILBOX_VAR):  # a given SMTP server that keeps mail where we can read
        env[MAILBOX_VAR] = os.environ[MAILBOX_VAR]
    if not missing:
        yield env
        return
    from devstack import Stack

    # Not under pytest's basetemp: Postgres runs as an unprivileged user when we are root, so
    # its directory's ancestors are made traversable, and every new pytest session resets
    # /tmp/pytest-of-<user> to 0700 (and prunes old sessions' directories), which took the
    # data directory away from a concurrently running suite's Postgres.
    state_dir = Path(tempfile.mkdtemp(prefix="sartiq-test-stack-"))
    try:
        with Stack(state_dir, ephemeral=True, services=missing) as started:
            env.update(started.as_env())
            if "mail" in missing:
                env[MAILBOX_VAR] = str(mailbox_dir(state_dir))
            yield env
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def settings(stack_env: dict[str, str]) -> AsyncIterator[Settings]:
    """Settings for a fresh, migrated database of this test session."""
    server_url = stack_env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    db_name = f"sartiq_test_{uuid.uuid4().hex[:10]}"
    await create_database(server_url, db_name)
    env = {
        **stack_env,
        "DATABASE_URL": with_database(server_url, db_name),
        "ENVIRONMENT": "test",
        "FIRST_SUPERUSER": "admin@example.com",
        "FIRST_SUPERUSER_PASSWORD": "test-superuser-password",
        # The tests' receivers (webhook targets, image servers) listen on 127.0.0.1, a
        # private address: allow-listed as an operator would an internal host. Every other
        # loopback address (127.0.0.2, ::1, localhost's ::1) stays refused.
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        # Below the default 60 s floor: tests/generation/test_faults.py asks for a 10 s
        # deadline (config.deadline_seconds) to see one expire.
        "GENERATION_DEADLINE_MIN_SECONDS": "5",
        # Every test request comes from one address and the suite signs up hundreds of
        # users: limits raised so the suite measures the product (tests/security checks
        # the limits themselves with apps of their own).
        **raised_rate_limits(),
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    await _migrate(settings)
    try:
        yield settings
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        await drop_database(server_url, db_name)


async def _migrate(settings: Settings) -> None:
    """`alembic upgrade head` through the real migration scripts."""
    await asyncio.to_thread(migrate_database, settings.async_database_url, configure_logger=False)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from api.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


@pytest.fixture(scope="session")
def mailbox(stack_env: dict[str, str], worker: dict[str, Any]) -> Mailbox:
    """The mail the app sent, as the tests' SMTP server received it. With the worker: mail
    is sent by MailWorkflow runs, which the requests that ask for a mail only start."""
    if not stack_env.get(MAILBOX_VAR):
        pytest.skip(f"SMTP_HOST is given without {MAILBOX_VAR}: no mailbox to read")
    return Mailbox(Path(stack_env[MAILBOX_VAR]))


@pytest.fixture
async def user(api: Api) -> UserHandle:
    """A fresh signed-up user with its tokens."""
    return await api.new_user()


@pytest.fixture
async def other_user(api: Api) -> UserHandle:
    return await api.new_user()


@pytest.fixture
async def superuser(api: Api, settings: Settings) -> UserHandle:
    return await api.login(settings.FIRST_SUPERUSER, settings.FIRST_SUPERUSER_PASSWORD)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    # Everything under tests/chaos/ is the fault suite, marked so `-m chaos` selects it.
    chaos_dir = Path(__file__).parent / "chaos"
    for item in items:
        if Path(str(item.path)).is_relative_to(chaos_dir):
            item.add_marker(pytest.mark.chaos)
    # The chaos suite is opt-in (`pytest -m chaos`).
    if "chaos" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="fault-injection suite: run with -m chaos")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
