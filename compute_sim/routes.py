"""HTTP surface of the simulator (DESIGN §6), plus the /api/v1/sim/config knobs."""

from __future__ import annotations

import hmac
import random
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response, status
from pydantic import ValidationError

from compute_sim.config import SimConfig
from compute_sim.schemas import SimTaskCreate, TaskRefOut, TaskResultOut, TaskStateOut
from compute_sim.simulator import Simulator
from compute_sim.store import SimTask
from core.compute import IDEMPOTENCY_HEADER


def get_sim(request: Request) -> Simulator:
    return request.app.state.sim


SimDep = Annotated[Simulator, Depends(get_sim)]


def require_token(request: Request, sim: SimDep) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = sim.settings.COMPUTE_SERVER_ADMIN_TOKEN.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid or missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


# What a failing gateway or an overloaded server answers.
INJECTED_ERROR_CODES = (
    status.HTTP_500_INTERNAL_SERVER_ERROR,
    status.HTTP_502_BAD_GATEWAY,
    status.HTTP_503_SERVICE_UNAVAILABLE,
)


def injected_error(sim: SimDep) -> None:
    """Answer 5xx (without touching any task) at the rate of `http_error_rate`."""
    rate = sim.config.get().http_error_rate
    sim.faulty_requests += 1
    if rate > 0 and random.random() < rate:
        code = random.choice(INJECTED_ERROR_CODES)
        sim.injected_errors += 1
        raise HTTPException(code, f"injected {code} (http_error_rate={rate})")


# On the task routes only: the knob endpoints must keep answering so a test can undo it.
Faulty = [Depends(injected_error)]

public = APIRouter()
router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])


@public.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _unprocessable(detail: Any) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _task(sim: Simulator, task_id: str) -> SimTask:
    task = sim.get(task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task {task_id} not found")
    return task


@router.post("/tasks", status_code=status.HTTP_201_CREATED, dependencies=Faulty)
@router.post(
    "/tasks/", status_code=status.HTTP_201_CREATED, include_in_schema=False, dependencies=Faulty
)
async def create_task(
    body: SimTaskCreate,
    response: Response,
    sim: SimDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> TaskRefOut:
    """201 with a new task; 200 with the existing one when the Idempotency-Key was seen
    (whatever the body: a retry may carry freshly signed input URLs)."""
    config = sim.config.get()
    if max(body.output.width, body.output.height) > config.max_side:
        raise _unprocessable(f"output width/height above {config.max_side}")
    if body.num_outputs > config.max_outputs:
        raise _unprocessable(f"num_outputs above {config.max_outputs}")
    task, created = sim.create(body, idempotency_key or None)
    if not created:
        response.status_code = status.HTTP_200_OK
    return sim.ref(task)


@router.get("/tasks/{task_id}", dependencies=Faulty)
async def get_task(task_id: str, sim: SimDep) -> TaskStateOut:
    return sim.state(_task(sim, task_id))


@router.get("/tasks/{task_id}/result", dependencies=Faulty)
async def get_result(task_id: str, sim: SimDep) -> TaskResultOut:
    task = _task(sim, task_id)
    if not task.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Task {task_id} is {task.status}")
    return sim.result(task)


@router.post("/tasks/{task_id}/cancel", dependencies=Faulty)
async def cancel_task(task_id: str, sim: SimDep) -> TaskStateOut:
    task = _task(sim, task_id)
    sim.cancel(task)
    return sim.state(task)


@router.get("/sim/config")
async def get_config(sim: SimDep) -> SimConfig:
    return sim.config.get()


@router.put("/sim/config")
async def put_config(changes: Annotated[dict[str, Any], Body()], sim: SimDep) -> SimConfig:
    """Change some knobs (the others keep their value); affects tasks created afterwards."""
    try:
        return sim.config.update(changes)
    except KeyError as exc:
        raise _unprocessable(f"unknown knobs: {exc.args[0]}") from exc
    except ValidationError as exc:
        raise _unprocessable(exc.errors(include_url=False, include_context=False)) from exc
