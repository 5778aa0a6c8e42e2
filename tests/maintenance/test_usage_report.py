"""UsageReportWorkflow: the day's generations, predictions and exports per organization
(and one personal row), storage at the day's end, upserted; listed by the admin API."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from temporalio.client import Client

from core.temporal import MAINTENANCE_QUEUE
from models.generation import Generation, GenerationStatus, Prediction, PredictionStatus
from models.jobs import Export
from tests.helpers import Api, UserHandle
from tests.maintenance.support import add_media, run_workflow
from workflows.maintenance import UsageReportWorkflow
from workflows.maintenance_types import UsageReportInput

DAY = date(2021, 3, 14)  # long before anything else in the test database
NOON = datetime(2021, 3, 14, 12, tzinfo=UTC)
TIMINGS = {"queued": 0.5, "compute": 2.25, "ingest": 0.125, "total": 3.0}


async def _plant(app: FastAPI, user: UserHandle) -> None:
    org, owner = uuid.UUID(user.orgs[0]), uuid.UUID(user.id)

    def generation(
        status: GenerationStatus, at: datetime, organization: uuid.UUID | None
    ) -> Generation:
        return Generation(
            organization_id=organization,
            owner_id=owner,
            status=status,
            created_at=at,
            updated_at=at,
            timings=TIMINGS,
        )

    async with app.state.sessionmaker() as session:
        done = generation(GenerationStatus.COMPLETED, NOON, org)
        rows = [
            done,
            generation(GenerationStatus.COMPLETED, NOON + timedelta(hours=11), org),
            generation(GenerationStatus.FAILED, NOON - timedelta(hours=12), org),  # 00:00
            generation(GenerationStatus.COMPLETED, NOON - timedelta(days=1), org),  # day before
            generation(GenerationStatus.CANCELLED, NOON, None),  # personal
        ]
        session.add_all(rows)
        await session.flush()
        session.add_all(
            Prediction(
                generation_id=done.id,
                organization_id=org,
                output_index=i,
                created_at=NOON,
                # a placeholder that ended in error is no output: not counted
                status=PredictionStatus.COMPLETED if i < 3 else PredictionStatus.ERROR,
            )
            for i in range(4)
        )
        session.add(Export(organization_id=org, owner_id=owner, created_at=NOON, updated_at=NOON))
        await session.commit()
    day_start = datetime(2021, 3, 14, tzinfo=UTC)
    for size, at in (
        (1000, day_start - timedelta(days=3)),
        (500, NOON),
        (700, NOON + timedelta(days=1)),
    ):
        await add_media(
            app,
            organization_id=user.orgs[0],
            owner_id=user.id,
            file_size=size,
            age=datetime.now(UTC) - at,
        )
    await add_media(app, owner_id=user.id, file_size=42, age=datetime.now(UTC) - NOON)


async def test_usage_report_numbers_and_upsert(
    mt_temporal: Client,
    mt_queues: str,
    mt_app: FastAPI,
    mt_api: Api,
    user: UserHandle,
    superuser: UserHandle,
) -> None:
    await _plant(mt_app, user)
    for attempt in range(2):  # a rerun (or a retried activity) updates, never duplicates
        result = await run_workflow(
            mt_temporal,
            UsageReportWorkflow.run,
            UsageReportInput(report_date=DAY.isoformat()),
            queues=mt_queues,
            name="usage-report",
            record="usage_report" if attempt == 0 else None,
        )
        assert result.report_date == DAY.isoformat() and result.rows == 2

    window = {"date_from": DAY.isoformat(), "date_to": DAY.isoformat()}
    r = await mt_api.get(
        "/admin/usage-reports", as_=superuser, params={"organization_id": user.orgs[0], **window}
    )
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1
    (org_row,) = r.json()["data"]
    assert org_row["report_date"] == DAY.isoformat()
    assert org_row["generations_by_status"] == {"completed": 2, "failed": 1}
    assert (org_row["predictions"], org_row["exports"]) == (3, 1)
    assert org_row["storage_bytes"] == 1500  # media existing at the day's end
    # the timings of the day's three ended generations, summed
    assert org_row["timings"] == {"queued": 1.5, "compute": 6.75, "ingest": 0.375, "total": 9.0}

    r = await mt_api.get(
        "/admin/usage-reports", as_=superuser, params={"personal": "true", **window}
    )
    assert r.json()["count"] == 1
    (personal,) = r.json()["data"]
    assert personal["organization_id"] is None
    assert personal["generations_by_status"] == {"cancelled": 1}
    assert personal["storage_bytes"] == 42
    assert personal["timings"] == TIMINGS

    r = await mt_api.get("/admin/usage-reports", as_=superuser, params=window)
    assert r.json()["count"] == 2
    assert (await mt_api.get("/admin/usage-reports", as_=user)).status_code == 403


async def test_default_date_is_yesterday(mt_temporal: Client, mt_queues: str) -> None:
    result = await mt_temporal.execute_workflow(
        UsageReportWorkflow.run,
        UsageReportInput(),
        id=f"usage-report-test-{uuid.uuid4()}",
        task_queue=mt_queues + MAINTENANCE_QUEUE,
    )
    assert result.report_date == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
