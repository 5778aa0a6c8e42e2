"""The simulator's state and operations, independent of HTTP (routes.py is a thin layer)."""

from __future__ import annotations

from typing import Any

from compute_sim.config import ConfigHolder
from compute_sim.runner import TaskRunner
from compute_sim.schemas import SimTaskCreate, TaskRefOut, TaskResultOut, TaskStateOut
from compute_sim.store import SimTask, TaskStore
from core.compute import OutputImage, TaskOutput
from core.config import Settings


class Simulator:
    def __init__(
        self,
        *,
        settings: Settings,
        config: ConfigHolder,
        store: TaskStore,
        runner: TaskRunner,
        s3: Any,
    ) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.runner = runner
        self._s3 = s3
        # Task requests seen by the http_error_rate knob and those it answered 5xx: a test
        # proves the fault was on.
        self.faulty_requests = 0
        self.injected_errors = 0

    def create(self, body: SimTaskCreate, idempotency_key: str | None) -> tuple[SimTask, bool]:
        """The new task (started), or the one an earlier call with the same key created."""
        candidate = self.runner.new_task(body, body.sim, idempotency_key)
        task, created = self.store.add(candidate, max_tasks=self.config.get().max_tasks)
        if created:
            self.runner.start(task)
        return task, created

    def get(self, task_id: str) -> SimTask | None:
        return self.store.get(task_id)

    def cancel(self, task: SimTask) -> None:
        self.runner.cancel(task)

    @staticmethod
    def ref(task: SimTask) -> TaskRefOut:
        return TaskRefOut(
            id=task.id,
            type=task.type,
            status=task.status,  # type: ignore[arg-type]
            created_at=task.created_at,
        )

    @staticmethod
    def state(task: SimTask) -> TaskStateOut:
        return TaskStateOut(
            id=task.id,
            type=task.type,
            entity_id=task.entity_id,
            inputs=task.inputs,
            status=task.status,  # type: ignore[arg-type]
            progress=task.progress,
            error_message=task.error_message,
            error_category=task.error_category,
            created_at=task.created_at,
            started_at=task.started_at,
            completed_at=task.completed_at,
        )

    def result(self, task: SimTask) -> TaskResultOut:
        # Presigned on every call, so a URL is always fresh however late the backend asks.
        expires = self.config.get().url_expires_s
        images = [
            OutputImage(
                url=self._s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.settings.R2_BUCKET_NAME, "Key": image.key},
                    ExpiresIn=expires,
                ),
                seed=image.seed,
                key=image.key if self.config.get().report_output_keys else None,
            )
            for image in task.images
        ]
        return TaskResultOut(
            id=task.id,
            status=task.status,  # type: ignore[arg-type]
            output=TaskOutput(images=images, text=task.text, score=task.score),
            error_message=task.error_message,
            error_category=task.error_category,
        )
