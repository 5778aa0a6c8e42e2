"""A pending generation whose workflow never started can be cancelled (issue 13): before,
the cancel went to Temporal only, found no workflow and answered 503, and the generation
stayed `pending` until the reconciler started it."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from models.generation import ShotGenerateRequest
from services import generations
from services.tenancy import Scope
from tests.generation.conftest import make_shot
from tests.helpers import Api, UserHandle


async def test_cancel_a_pending_generation_without_a_workflow(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    world = await make_shot(api, user)
    org = world["org"]
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
    async with app.state.sessionmaker() as session, session.begin():
        row = await generations.create_for_shot(
            session, scope, uuid.UUID(world["shot_ids"][0]), ShotGenerateRequest()
        )
        generation_id = str(row.id)

    r = await api.post(
        f"/generations/{generation_id}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    r = await api.get(f"/generations/{generation_id}", as_=user, params={"organization_id": org})
    assert r.json()["status"] == "cancelled"
    assert r.json()["error_category"] == "cancelled"

    again = await api.post(
        f"/generations/{generation_id}/cancel", as_=user, params={"organization_id": org}
    )
    assert again.status_code == 409, again.text
