"""Look CRUD under `/shooting-looks` (creation also exists nested under its shooting)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import ScopeDep, SessionDep
from models.shooting import ShootingLookCreate, ShootingLookPublic, ShootingLookUpdate
from services import looks

router = APIRouter(prefix="/shooting-looks", tags=["shooting-looks"])


class ShootingLookCreateIn(ShootingLookCreate):
    """Body of POST /shooting-looks/: the look fields plus its shooting."""

    shooting_id: uuid.UUID


@router.post("/", status_code=201)
async def create_look(
    body: ShootingLookCreateIn, session: SessionDep, scope: ScopeDep
) -> ShootingLookPublic:
    """Add a look to `shooting_id`; one shot is created per shot type."""
    data = ShootingLookCreate.model_validate(
        body.model_dump(exclude={"shooting_id"}, exclude_unset=True)
    )
    look = await looks.create(session, scope, body.shooting_id, data)
    await session.commit()
    return (await looks.publics(session, [look]))[0]


@router.get("/{look_id}")
async def read_look(look_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> ShootingLookPublic:
    return (await looks.publics(session, [await looks.get(session, scope, look_id)]))[0]


@router.patch("/{look_id}")
async def update_look(
    look_id: uuid.UUID, body: ShootingLookUpdate, session: SessionDep, scope: ScopeDep
) -> ShootingLookPublic:
    """Lists replace the current ones; new shot types add shots, removed ones delete them."""
    look = await looks.update(session, scope, look_id, body)
    await session.commit()
    return (await looks.publics(session, [look]))[0]


@router.delete("/{look_id}", status_code=204)
async def delete_look(look_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await looks.delete_(session, scope, look_id)
    await session.commit()
    return Response(status_code=204)
