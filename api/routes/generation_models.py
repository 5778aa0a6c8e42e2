"""Generation models (DOMAIN §1.8): a global catalogue. Everybody signed in lists and reads
it (no organization scope: it is the same for all); only superusers write it. Deleting a
model some generation or active batch names retires it instead (200 with the retired
model; 204 when it was deleted)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, PageDep, SessionDep, SuperUser
from models.base import Page
from models.generation_model import (
    GenerationModelCreate,
    GenerationModelPublic,
    GenerationModelUpdate,
)
from services import generation_models

router = APIRouter(prefix="/generation-models", tags=["generation-models"])

IncludeRetired = Annotated[bool, Query(description="List retired models too.")]


@router.get("/")
async def list_generation_models(
    session: SessionDep, user: CurrentUser, page: PageDep, include_retired: IncludeRetired = False
) -> Page[GenerationModelPublic]:
    """Active models (the default and recommended first); `include_retired` lists all."""
    rows, count = await generation_models.list_(
        session, skip=page.skip, limit=page.limit, include_retired=include_retired
    )
    superuser = user.is_superuser
    return Page(data=[generation_models.public(r, superuser=superuser) for r in rows], count=count)


@router.post("/", status_code=201)
async def create_generation_model(
    body: GenerationModelCreate, session: SessionDep, user: SuperUser
) -> GenerationModelPublic:
    row = await generation_models.create(session, body)
    await session.commit()
    return generation_models.public(row, superuser=True)


@router.get("/{model_id}")
async def read_generation_model(
    model_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> GenerationModelPublic:
    row = await generation_models.get(session, model_id)
    return generation_models.public(row, superuser=user.is_superuser)


# PUT as DOMAIN §2.6 names it; both take the fields to change.
@router.patch("/{model_id}")
@router.put("/{model_id}")
async def update_generation_model(
    model_id: uuid.UUID, body: GenerationModelUpdate, session: SessionDep, user: SuperUser
) -> GenerationModelPublic:
    """Fields given replace the current ones; `is_active: false` retires the model (it
    takes no new generation), `true` brings it back; `is_default: true` makes it the
    model of requests that name none."""
    row = await generation_models.update_(session, model_id, body)
    await session.commit()
    return generation_models.public(row, superuser=True)


@router.delete(
    "/{model_id}",
    responses={204: {"description": "Deleted"}, 200: {"description": "Retired: in use"}},
)
async def delete_generation_model(
    model_id: uuid.UUID, session: SessionDep, user: SuperUser
) -> GenerationModelPublic | None:
    retired = await generation_models.delete_(session, model_id)
    await session.commit()
    if retired is None:
        return Response(status_code=204)  # type: ignore[return-value]
    return generation_models.public(retired, superuser=True)
