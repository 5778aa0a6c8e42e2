"""HTTP bodies of the simulator: the contract models of core/compute.py plus the `sim`
object and the extra fields a real Compute Server also returns (type, timestamps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, model_validator

from compute_sim.config import TaskSim
from core.compute import TaskCreate, TaskOutput, TaskStatus


class SimTaskCreate(TaskCreate):
    sim: TaskSim | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _inputs_for_type(self) -> Self:
        # A captioner without a picture cannot start: refuse at the door (422) rather
        # than accept a task that can only fail.
        if self.type == "caption" and not isinstance(self.inputs.get("image_url"), str):
            raise ValueError("caption tasks need inputs.image_url (a URL string)")
        return self


class TaskRefOut(BaseModel):
    id: str
    type: str
    status: TaskStatus
    created_at: datetime


class TaskStateOut(BaseModel):
    id: str
    type: str
    entity_id: str
    # The task's `inputs` exactly as received: what a test or a person checks arrived.
    inputs: dict[str, Any]
    status: TaskStatus
    progress: float
    error_message: str | None
    error_category: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class TaskResultOut(BaseModel):
    id: str
    status: TaskStatus
    output: TaskOutput
    error_message: str | None
    error_category: str | None
