"""P3: the API under 50 concurrent connections against the same SQL through bare asyncpg.

- GET /products/ (a page of 50 of 200 products): the route runs a count, the page and the
  page's attached images; the baseline runs those three statements on an asyncpg pool as
  large as the API's (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW).
- POST /generations: the route loads the shot, its look and shooting, inserts the generation
  and starts its workflow; the baseline runs the same reads and an insert of a row of the
  same width (copied from a real generation) in a transaction. The API under test is a
  second API process on a task-queue prefix no worker polls, so the started workflows wait
  instead of loading the machine while it is measured; they are terminated afterwards.

Neither side leaves anything the product acts on: the generations both sides created stay
`pending` without a running workflow, which the stuck-generation reconciler would start (all
on one shot, while later figures are measured), so every generation of P3's organization is
deleted at the end. The bare inserts commit like the route does (a rolled-back transaction
would skip the commit the route pays for) and go with them.

Both sides are driven from this process with `concurrency` loops sharing `requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.bare import BARE_QUEUE, BareInput, BareWorkflow
from bench.figures import Figure, ratio
from bench.http_load import KeepAliveConnection
from bench.quiesce import clean_baseline
from bench.session import Session
from bench.stack import BenchStack, Log, bench_process, wait_http
from bench.stats import latency_summary
from core.temporal import TASK_QUEUES
from devstack.database import plain_pg
from devstack.ports import free_port

PRODUCTS = 200
PAGE = 50

COUNT_SQL = "SELECT count(*) FROM product WHERE organization_id = $1"
PAGE_SQL = (
    "SELECT * FROM product WHERE organization_id = $1 "
    "ORDER BY created_at DESC, id LIMIT $2 OFFSET 0"
)
IMAGES_SQL = (
    "SELECT a.*, m.* FROM media_resource_attachment a "
    "JOIN media_resource m ON m.id = a.media_resource_id "
    "WHERE a.entity_type = 'PRODUCT' AND a.entity_id = ANY($1::uuid[]) "
    "ORDER BY a.slot, a.position"
)
SHOT_SQL = "SELECT * FROM shot WHERE id = $1 AND organization_id = $2"
LOOK_SQL = "SELECT * FROM shooting_look WHERE id = $1"
SHOOTING_SQL = "SELECT * FROM shooting WHERE id = $1"


async def _load(
    call: Callable[[int], Awaitable[None]], requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """(wall seconds, per-request seconds) of `requests` calls over `concurrency` loops;
    each call gets its loop's number (the connection it owns)."""
    remaining = requests
    samples: list[float] = []

    async def loop(number: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            await call(number)
            samples.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(loop(n) for n in range(concurrency)))
    return time.perf_counter() - began, samples


def _figure(
    id_: str, name: str, ours: tuple[float, list[float]], bare: tuple[float, list[float]]
) -> Figure:
    ours_lat, bare_lat = latency_summary(ours[1]), latency_summary(bare[1])
    return Figure(
        id=id_,
        name=name,
        unit="ms p99",
        ours=ours_lat["p99_ms"],
        baseline=bare_lat["p99_ms"],
        baseline_name="the same SQL through bare asyncpg, same pool size",
        ratio=ratio(ours_lat["p99_ms"], bare_lat["p99_ms"]),
        goal="<= 3x",
        met=ours_lat["p99_ms"] <= 3 * bare_lat["p99_ms"],
        details={
            "requests": len(ours[1]),
            "ours": {**ours_lat, "per_s": round(len(ours[1]) / ours[0], 1)},
            "bare": {**bare_lat, "per_s": round(len(bare[1]) / bare[0], 1)},
        },
    )


def _connections(base_url: str, session: Session, concurrency: int) -> list[KeepAliveConnection]:
    return [KeepAliveConnection(base_url + "/api/v1", session.headers) for _ in range(concurrency)]


async def _products(conn: KeepAliveConnection, session: Session) -> None:
    status, body = await conn.request("GET", "/products/", params={**session.params, "limit": PAGE})
    if status != 200 or len(json.loads(body)["data"]) != PAGE:
        raise RuntimeError(f"GET /products/: {status} {body[:300]!r}")


async def _bare_products(pool: Any, org: uuid.UUID) -> None:
    async with pool.acquire() as conn:
        await conn.fetchval(COUNT_SQL, org)
        rows = await conn.fetch(PAGE_SQL, org, PAGE)
        await conn.fetch(IMAGES_SQL, [r["id"] for r in rows])
    if len(rows) != PAGE:
        raise RuntimeError(f"bare page has {len(rows)} rows")


async def _insert_statement(conn: Any) -> str:
    """INSERT of a copy of generation $1 under id $2 (and its own workflow id $3)."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'generation' ORDER BY ordinal_position"
        )
    ]
    replaced = {"id": "$2", "workflow_id": "$3", "created_at": "now()", "updated_at": "now()"}
    values = ", ".join(replaced.get(c, f'"{c}"') for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO generation ({names}) SELECT {values} FROM generation WHERE id = $1"


async def _bare_generation(
    pool: Any, insert: str, template: uuid.UUID, shot: uuid.UUID, org: uuid.UUID
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(SHOT_SQL, shot, org)
        await conn.fetchrow(LOOK_SQL, row["look_id"])
        await conn.fetchrow(SHOOTING_SQL, row["shooting_id"])
        new_id = uuid.uuid4()
        await conn.execute(insert, template, new_id, f"bench-bare-generation-{new_id}")


async def _terminate_waiting(stack: BenchStack, workflow_ids: list[str]) -> None:
    async def one(workflow_id: str) -> None:
        handle = stack.client.get_workflow_handle(workflow_id)
        try:
            await handle.terminate("bench: started only to measure POST /generations")
        except Exception:  # already gone: nothing to clean up
            return

    for start in range(0, len(workflow_ids), 50):
        await asyncio.gather(*(one(i) for i in workflow_ids[start : start + 50]))


async def _delete_generations(pool: Any, org: str, log: Log) -> None:
    """Every generation of P3's organization (ours and the baseline's), see the module doc."""
    if not org:
        return
    async with pool.acquire() as conn:
        status = await conn.execute(
            "DELETE FROM generation WHERE organization_id = $1", uuid.UUID(org)
        )
    log(f"P3: deleted its {status.split()[-1]} pending generations (ours and the baseline's)")


async def run(stack: BenchStack, *, requests: int, concurrency: int, log: Log) -> None:
    import asyncpg

    settings = stack.settings
    pool_size = settings.DATABASE_POOL_SIZE + settings.DATABASE_MAX_OVERFLOW
    session = Session(stack.api_url, connections=concurrency)
    port = free_port()
    idle = bench_process(
        "api (no worker)",
        [
            *(stack.children["api"].argv[:6]),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ],
        {**stack.env, "TASK_QUEUE_PREFIX": stack.prefix + "idle-"},
        stack.children["api"].log_path.with_name("api-idle.log"),
    )
    idle.start()
    pool = await asyncpg.create_pool(
        plain_pg(settings.DATABASE_URL), min_size=pool_size, max_size=pool_size
    )
    started: list[str] = []
    connections: list[KeepAliveConnection] = []
    try:
        # The second API must be up before anything is measured: its start-up (imports,
        # migrations check) takes a core for seconds.
        await wait_http(f"http://127.0.0.1:{port}/api/v1/utils/health-check/", idle)
        await session.sign_up()
        org = uuid.UUID(session.org)
        log(f"P3: {PRODUCTS} products")
        for i in range(PRODUCTS):
            await session.create("/products/", {"name": f"Product {i}", "sku": f"B-{i:05d}"})
        shot = (await session.shots(1, 64))[0]
        # Warm both sides at full concurrency: the API's pool opens its connections (and
        # prepares its statements on each) lazily, the bare pool was opened at full size.
        await stack.before_figure("P3-get")
        getters = _connections(stack.api_url, session, concurrency)
        connections += getters
        await _load(lambda n: _products(getters[n], session), 2 * concurrency, concurrency)
        await _load(lambda n: _bare_products(pool, org), 2 * concurrency, concurrency)

        log(f"P3: GET /products/ x{requests}, {concurrency} concurrent")
        ours_get = await _load(lambda n: _products(getters[n], session), requests, concurrency)
        bare_get = await _load(lambda n: _bare_products(pool, org), requests, concurrency)
        stack.record(
            _figure(
                "P3-get",
                f"GET /products/ (page of {PAGE}), {concurrency} concurrent",
                ours_get,
                bare_get,
            )
        )
        await stack.before_figure("P3-post")

        posters = _connections(f"http://127.0.0.1:{port}", session, concurrency)
        connections += posters

        async def post_generation(n: int) -> None:
            status, body = await posters[n].request(
                "POST", "/generations", params=session.params, json_body={"shot_id": shot}
            )
            if status != 202:
                raise RuntimeError(f"POST /generations: {status} {body[:300]!r}")
            started.append(json.loads(body)["workflow_id"])

        await post_generation(0)
        template = uuid.UUID(started[0].removeprefix("generation-"))
        async with pool.acquire() as conn:
            insert = await _insert_statement(conn)
        posts = max(requests // 4, concurrency)
        # Warm-up, as for GET (the idle API's pool is still cold).
        await _load(post_generation, 2 * concurrency, concurrency)
        await _load(
            lambda n: _bare_generation(pool, insert, template, uuid.UUID(shot), org),
            2 * concurrency,
            concurrency,
        )
        log(f"P3: POST /generations x{posts}, {concurrency} concurrent")
        ours_post = await _load(post_generation, posts, concurrency)
        bare_post = await _load(
            lambda n: _bare_generation(pool, insert, template, uuid.UUID(shot), org),
            posts,
            concurrency,
        )

        async def bare_with_start(n: int) -> None:
            await _bare_generation(pool, insert, template, uuid.UUID(shot), org)
            workflow_id = f"bench-bare-start-{uuid.uuid4()}"
            await stack.client.start_workflow(
                BareWorkflow.run,
                BareInput(before=0, signals=1, after=0),
                id=workflow_id,
                task_queue=stack.prefix + "idle-" + BARE_QUEUE,
            )
            started.append(workflow_id)

        # What bounds the route: the same SQL plus one workflow start on the same server.
        floor = latency_summary((await _load(bare_with_start, posts, concurrency))[1])
        post = _figure(
            "P3-post", f"POST /generations, {concurrency} concurrent", ours_post, bare_post
        )
        post.details["bare_sql_and_workflow_start"] = floor
        stack.record(post)
    finally:
        for conn in connections:
            await conn.close()
        await _terminate_waiting(stack, started)
        # A backstop for starts the list missed (requests still in flight after an error).
        idle_queues = [f"{stack.prefix}idle-{q}" for q in (*TASK_QUEUES, BARE_QUEUE)]
        await clean_baseline(stack.client, idle_queues, log, "P3")
        try:
            await _delete_generations(pool, session.org, log)
        except Exception as error:  # never mask the error that got us here
            log(f"P3: could not delete its generations: {error!r}")
        await pool.close()
        await session.close()
        idle.stop()
