"""Real services from the wheels: start once per module, check each works, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import smtplib
import sys
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import redis
from botocore.exceptions import ClientError
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import Priority
from temporalio.worker import Worker

from core.temporal import SEARCH_ATTRIBUTES
from devstack import DevstackError, Stack, StackEnv, mailbox
from devstack.ports import PortReservation, is_port_free
from devstack.postgres import PostgresService
from devstack.process import ManagedProcess
from devstack.process_groups import is_alive
from devstack.s3 import s3_client
from devstack.stack import SERVICE_VARS

APP_VARS = {key for keys in SERVICE_VARS.values() for key in keys}


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without any variable that would replace an embedded service."""
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    env.update(extra)
    return env


def pid_alive(pid: int) -> bool:
    try:
        return is_alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(text in arg for arg in proc.info["cmdline"] or ()):
            found.append(proc)
    return [p for p in found if p.pid != os.getpid() and is_alive(p)]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("devstack") / "state"


@pytest.fixture(scope="module")
def stack(state_dir: Path) -> Iterator[Stack]:
    stack = Stack(state_dir, environ=clean_environ(), ephemeral=True, log=print)
    stack.start()
    yield stack
    stack.stop()  # usually already stopped by test_stop_leaves_no_process: must be a no-op


@pytest.fixture(scope="module")
def env(stack: Stack) -> StackEnv:
    assert stack.env is not None
    return stack.env


def test_start_embeds_everything(stack: Stack, env: StackEnv) -> None:
    assert stack.started_services == ["postgres", "redis", "s3", "temporal", "mail"]
    assert set(env) == APP_VARS
    assert env["DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
    assert env["DATABASE_URL"].endswith("/sartiq")
    for default in ("5432", "6379", "7233", "8333", "9333", "8888"):
        assert f":{default}" not in json.dumps(env)
    assert stack.start() is env  # idempotent
    assert json.loads(env.to_json()) == env.as_env()
    written = json.loads(stack.write_stack_json().read_text())
    assert written["env"] == env.as_env()
    assert written["pid"] == os.getpid()
    for name in stack.started_services:
        assert (stack.state_dir / "logs" / f"{name}.log").is_file()


def test_postgres_accepts_queries(env: StackEnv) -> None:
    async def check() -> None:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            assert await conn.fetchval("SELECT current_database()") == "sartiq"
            assert await conn.fetchval("SHOW max_connections") == "200"
            assert await conn.fetchval("SHOW fsync") == "off"  # ephemeral
            await conn.execute("CREATE TABLE survivor (id int PRIMARY KEY, note text)")
            await conn.execute("INSERT INTO survivor VALUES (1, 'from the first run')")
        finally:
            await conn.close()

    asyncio.run(check())


def test_redis_ping_and_streams(env: StackEnv) -> None:
    with redis.Redis.from_url(env["REDIS_URL"], decode_responses=True) as client:
        assert client.ping()
        client.xgroup_create("jobs", "workers", id="0", mkstream=True)
        entry_id = client.xadd("jobs", {"kind": "generation"})
        read = client.xreadgroup("workers", "w1", {"jobs": ">"}, count=10)
        assert read == [["jobs", [(entry_id, {"kind": "generation"})]]]
        assert client.xack("jobs", "workers", entry_id) == 1


def test_mail_keeps_what_it_receives(stack: Stack, env: StackEnv) -> None:
    assert env["SMTP_TLS"] == "false"  # a plain local server: the app must not STARTTLS
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
    message.set_content("kept")
    with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)
    [mail] = mailbox.read(mailbox.mailbox_dir(stack.state_dir))
    assert (mail.envelope_to, mail.subject, mail.body) == (("b@example.com",), "Hi", "kept\n")


def test_s3_objects_presign_and_auth(env: StackEnv) -> None:
    endpoint, bucket = env["R2_ENDPOINT_URL"], env["R2_BUCKET_NAME"]
    client = s3_client(endpoint, env["R2_ACCESS_KEY_ID"], env["R2_SECRET_ACCESS_KEY"])
    client.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"hello")
    assert client.get_object(Bucket=bucket, Key="docs/a.txt")["Body"].read() == b"hello"
    listed = client.list_objects_v2(Bucket=bucket, Prefix="docs/")
    assert [o["Key"] for o in listed["Contents"]] == ["docs/a.txt"]

    body = b"\x89PNG fake image"
    url = client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": bucket,
            "Key": "uploads/x.png",
            "ContentType": "image/png",
            "ContentLength": len(body),
        },
        ExpiresIn=60,
    )
    wrong_size = httpx.put(url, content=body + b"!", headers={"Content-Type": "image/png"})
    assert wrong_size.status_code == 403
    wrong_type = httpx.put(url, content=body, headers={"Content-Type": "image/jpeg"})
    assert wrong_type.status_code == 403
    ok = httpx.put(url, content=body, headers={"Content-Type": "image/png"})
    assert ok.status_code == 200, ok.text
    stored = client.head_object(Bucket=bucket, Key="uploads/x.png")
    assert stored["ContentLength"] == len(body)

    assert httpx.get(f"{endpoint}/{bucket}/docs/a.txt").status_code == 403  # anonymous
    intruder = s3_client(endpoint, "nobody", "wrong-secret")
    with pytest.raises(ClientError):
        intruder.get_object(Bucket=bucket, Key="docs/a.txt")


RUN_ORDER: list[str] = []


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    """Records the order its runs are dispatched in (unsandboxed: it may touch a global)."""

    @workflow.run
    async def run(self, tag: str) -> str:
        RUN_ORDER.append(tag)
        return tag


def test_temporal_search_attributes_and_fairness(env: StackEnv) -> None:
    async def check() -> list[str]:
        client = await Client.connect(env["TEMPORAL_ADDRESS"], namespace=env["TEMPORAL_NAMESPACE"])
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=env["TEMPORAL_NAMESPACE"])
        )
        for name in SEARCH_ATTRIBUTES:
            assert listed.custom_attributes[name] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD

        # A backlog of 12 "a" then 4 "b" fairness keys: with fairness on the first tasks
        # alternate a/b; plain FIFO would serve all twelve "a" first.
        queue = f"fairness-{uuid.uuid4().hex[:8]}"
        handles = []
        for i, key in enumerate("a" * 12 + "b" * 4):
            handles.append(
                await client.start_workflow(
                    EchoWorkflow.run,
                    key,
                    id=f"{queue}-{i}",
                    task_queue=queue,
                    priority=Priority(fairness_key=key),
                )
            )
        async with Worker(
            client,
            task_queue=queue,
            workflows=[EchoWorkflow],
            max_concurrent_workflow_tasks=1,
            max_concurrent_workflow_task_polls=1,
            max_cached_workflows=0,
        ):
            for h in handles:
                await h.result()
        order = list(RUN_ORDER)
        # Leave a workflow behind for the reuse test to find after a restart.
        await client.start_workflow(
            EchoWorkflow.run, "kept", id="kept-across-restart", task_queue="nobody-polls"
        )
        return order

    order = asyncio.run(check())
    assert order[:8].count("b") >= 3, order


def test_external_s3_bucket_is_ensured(env: StackEnv, tmp_path: Path) -> None:
    given = clean_environ(
        R2_ENDPOINT_URL=env["R2_ENDPOINT_URL"],
        R2_ACCESS_KEY_ID=env["R2_ACCESS_KEY_ID"],
        R2_SECRET_ACCESS_KEY=env["R2_SECRET_ACCESS_KEY"],
        R2_BUCKET_NAME="given-bucket",
    )
    stack = Stack(tmp_path / "state", environ=given, services=["s3"])
    with stack as external:
        assert stack.started_services == []
        assert external.as_env() == {k: given[k] for k in SERVICE_VARS["s3"]}
    client = s3_client(env["R2_ENDPOINT_URL"], env["R2_ACCESS_KEY_ID"], env["R2_SECRET_ACCESS_KEY"])
    client.head_bucket(Bucket="given-bucket")

    bad = {**given, "R2_SECRET_ACCESS_KEY": "wrong"}
    with pytest.raises(DevstackError, match="given-bucket"):
        Stack(tmp_path / "state2", environ=bad, services=["s3"]).start()


def test_stop_leaves_no_process(stack: Stack, state_dir: Path) -> None:
    pids = [p.pid for service in stack._embedded.values() for p in service.processes]
    assert len(pids) == 5 and all(psutil.pid_exists(pid) for pid in pids)
    ports = dict(stack.ports)
    stack.stop()
    stack.stop()  # twice is fine
    assert stack.env is None
    assert not processes_mentioning(str(state_dir))
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    assert not alive
    for pid in pids:  # nothing left in their process groups either (postgres backends)
        for proc in psutil.process_iter():
            with contextlib.suppress(ProcessLookupError):
                assert os.getpgid(proc.pid) != pid, proc
    assert all(is_port_free(port) for port in ports.values())
    assert not list((state_dir / "pids").glob("*.json"))
    assert not (state_dir / "stack.json").exists()


def test_second_start_reuses_data(state_dir: Path) -> None:
    log_before = (state_dir / "logs" / "postgres.log").read_text()
    with Stack(
        state_dir, environ=clean_environ(), ephemeral=True, services=["postgres", "temporal"]
    ) as env:

        async def check() -> None:
            conn = await asyncpg.connect(env["DATABASE_URL"])
            try:
                note = await conn.fetchval("SELECT note FROM survivor WHERE id = 1")
                assert note == "from the first run"
            finally:
                await conn.close()
            client = await Client.connect(env["TEMPORAL_ADDRESS"])
            desc = await client.get_workflow_handle("kept-across-restart").describe()
            assert desc.id == "kept-across-restart"

        asyncio.run(check())
    log_after = (state_dir / "logs" / "postgres.log").read_text()
    assert log_after.count("devstack: initdb") == log_before.count("devstack: initdb") == 1

    with Stack(
        state_dir, environ=clean_environ(), ephemeral=True, fresh=True, services=["postgres"]
    ) as env:

        async def gone() -> None:
            conn = await asyncpg.connect(env["DATABASE_URL"])
            try:
                assert await conn.fetchval("SELECT to_regclass('survivor')") is None
            finally:
                await conn.close()

        asyncio.run(gone())
    assert not processes_mentioning(str(state_dir))


def test_service_given_by_env_is_not_started(tmp_path: Path) -> None:
    given = clean_environ(
        REDIS_URL="redis://127.0.0.1:6379/0",
        TEMPORAL_ADDRESS="temporal.example:7233",
        DATABASE_URL="",  # empty counts as absent
    )
    stack = Stack(tmp_path / "state", environ=given, services=["redis", "temporal", "postgres"])
    with stack as env:
        assert stack.started_services == ["postgres"]
        assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
        assert env["TEMPORAL_ADDRESS"] == "temporal.example:7233"
        assert env["TEMPORAL_NAMESPACE"] == "default"
        assert env["TEMPORAL_UI_URL"] == ""
        assert env["DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
        assert "R2_ENDPOINT_URL" not in env  # s3 not requested and not given
    assert not processes_mentioning(str(tmp_path))


def test_failing_binary_reports_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = PostgresService._server_argv

    def bad_argv(self: PostgresService, port: int) -> list[str]:
        return [*original(self, port), "-c", "no_such_setting=1"]

    monkeypatch.setattr(PostgresService, "_server_argv", bad_argv)
    stack = Stack(tmp_path / "state", environ=clean_environ(), services=["postgres"])
    with pytest.raises(DevstackError) as caught:
        stack.start()
    message = str(caught.value)
    assert message.startswith("postgres: exited early")
    assert "command: " in message and "no_such_setting=1" in message
    assert 'unrecognized configuration parameter "no_such_setting"' in message
    assert stack.env is None
    assert not processes_mentioning(str(tmp_path))
    stack.stop()  # after a failed start: nothing to do, no error


CRASHING_OWNER = """
import sys, time
from pathlib import Path
from devstack import Stack
stack = Stack(Path(sys.argv[1]), environ={}, services=["postgres", "redis"], ephemeral=True)
stack.start()
print(" ".join(str(p.pid) for s in stack._embedded.values() for p in s.processes), flush=True)
time.sleep(600)
"""


def test_processes_of_a_crashed_run_are_killed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lines: queue.Queue[str] = queue.Queue()
    owner = ManagedProcess(
        "owner",
        [sys.executable, "-c", CRASHING_OWNER, str(state)],
        on_output=lines.put,
        env=os.environ,
        cwd=Path(__file__).resolve().parents[2],
    )
    owner.start()
    try:
        first = lines.get(timeout=120)  # the pids, or the first line of a traceback
        old_pids = [int(pid) for pid in first.split() if pid.isdigit()]
        assert len(old_pids) == 2, f"the owner process failed to start its stack: {first}"
        with pytest.raises(DevstackError, match="in use by another running stack"):
            Stack(state, environ=clean_environ(), services=["redis"]).start()
    finally:
        # SIGKILL: no atexit, no stop(); postgres and redis (in their own sessions, so not
        # in the owner's group) are orphaned.
        owner.kill()
    assert all(pid_alive(pid) for pid in old_pids)

    with Stack(state, environ=clean_environ(), services=["postgres", "redis"]) as env:
        assert not any(pid_alive(pid) for pid in old_pids)

        async def query() -> int:
            conn = await asyncpg.connect(env["DATABASE_URL"])
            try:
                return int(await conn.fetchval("SELECT 1"))
            finally:
                await conn.close()

        assert asyncio.run(query()) == 1
    assert not processes_mentioning(str(state))


def test_managed_process_early_exit_and_timeout(tmp_path: Path) -> None:
    def proc(*argv: str) -> ManagedProcess:
        return ManagedProcess(
            "fake", argv, log_path=tmp_path / "fake.log", pid_path=tmp_path / "fake.pid"
        )

    quitter = proc("sh", "-c", "echo 'port already in use'; exit 3")
    quitter.start()
    with pytest.raises(DevstackError) as caught:
        quitter.wait_healthy(lambda: False, timeout=10)
    assert "fake: exited early with code 3" in str(caught.value)
    assert "command: sh -c 'echo '" in str(caught.value)
    assert str(caught.value).endswith("port already in use")
    quitter.stop()

    hanger = proc("sh", "-c", "sleep 67 & sleep 67")  # a child of its own, too
    hanger.start()
    with pytest.raises(DevstackError, match="not healthy after 0s"):
        hanger.wait_healthy(lambda: False, timeout=0.3)
    pid = hanger.pid
    hanger.stop()
    assert pid is not None and not pid_alive(pid)
    assert not processes_mentioning("sleep 67")

    with pytest.raises(DevstackError, match="could not execute"):
        proc(str(tmp_path / "missing-binary")).start()


def test_port_reservation_is_distinct_and_pairs() -> None:
    reservation = PortReservation()
    ports = [reservation.reserve(f"p{i}") for i in range(20)]
    low, high = reservation.reserve_pair("admin", "admin.grpc", 10000)
    assert high == low + 10000
    assert len(set([*ports, low, high])) == 22
    released = reservation.release()
    assert released["admin.grpc"] == high
    again = PortReservation(remembered=released)
    assert again.reserve("p3") == released["p3"]  # remembered ports are reused if free
    again.release()
