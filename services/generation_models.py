"""Generation models (DOMAIN §1.8): the global catalogue, which model a generate request
means (`model_id`, or a `model` name, or the default model), and retirement.

A model some generation (or an active batch) names is retired (`is_active` false,
`retired_at` set) instead of deleted: its generations keep saying what produced them, and
a retired model takes no new generation (409). The default model (`is_default`, at most
one) is what a request naming no model gets; it cannot be retired or deleted while it is
the default (make another the default first).

`for_generation` is what the compute request builder reads."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.generation import Generation
from models.generation_model import (
    GenerationModel,
    GenerationModelCreate,
    GenerationModelPublic,
    GenerationModelUpdate,
)
from models.jobs import JobStatus
from models.shooting_generation import ShootingGeneration
from services.errors import Conflict, NotFound, Unprocessable
from services.generation_checks import RuleBroken
from services.repository import list_rows

WHAT = "Generation model"


class RetiredModel(RuleBroken):
    """The request names a retired model: 409, in a batch a skipped shot."""


async def for_generation(session: AsyncSession, generation: Generation) -> GenerationModel | None:
    """The model a generation runs on: by `model_id`; a row from before models were rows
    by its `model` name; None when it names neither (or the model was deleted)."""
    if generation.model_id is not None:
        return await session.get(GenerationModel, generation.model_id)
    if generation.model:
        return await by_name(session, generation.model)
    return None


async def by_name(session: AsyncSession, name: str) -> GenerationModel | None:
    return await session.scalar(select(GenerationModel).where(GenerationModel.name == name))


async def default(session: AsyncSession) -> GenerationModel | None:
    return await session.scalar(
        select(GenerationModel).where(
            GenerationModel.is_default.is_(True), GenerationModel.is_active.is_(True)
        )
    )


async def resolve(
    session: AsyncSession, *, model_id: uuid.UUID | None, model: str | None
) -> GenerationModel | None:
    """The model a generate request names (`model_id`, else the `model` name), else the
    default model. Unknown: 422 naming the field; both given and not the same model: 422
    naming `model`; retired: 409."""
    row = None
    if model_id is not None:
        row = await session.get(GenerationModel, model_id)
        if row is None:
            raise Unprocessable("model_id", f"Unknown generation model {model_id}")
    if model is not None:
        named = await by_name(session, model)
        if named is None:
            raise Unprocessable("model", f"Unknown generation model {model!r}")
        if row is not None and named.id != row.id:
            raise Unprocessable("model", "names another model than model_id")
        row = named
    if row is None:
        return await default(session)
    if not row.is_active:
        raise RetiredModel(f"Generation model {row.name!r} is retired")
    return row


def public(row: GenerationModel, *, superuser: bool) -> GenerationModelPublic:
    """The API object; provider configs only for superusers."""
    hidden = {} if superuser else {"provider_config": None, "fallback_provider_config": None}
    return GenerationModelPublic.model_validate(row, update=hidden)


async def list_(
    session: AsyncSession, *, skip: int, limit: int, include_retired: bool = False
) -> tuple[list[GenerationModel], int]:
    """Active models (every model with `include_retired`): the default and recommended
    first, then by name."""
    where: list[ColumnElement[bool]] = []
    if not include_retired:
        where.append(GenerationModel.is_active.is_(True))
    order = (
        GenerationModel.is_default.desc(),
        GenerationModel.recommended.desc(),
        GenerationModel.name,
        GenerationModel.id,
    )
    return await list_rows(
        session, GenerationModel, where=where, skip=skip, limit=limit, order_by=order
    )


async def get(
    session: AsyncSession, model_id: uuid.UUID, *, for_update: bool = False
) -> GenerationModel:
    query = select(GenerationModel).where(GenerationModel.id == model_id)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"{WHAT} not found")
    return row


async def _ensure_name_free(
    session: AsyncSession, name: str, model_id: uuid.UUID | None = None
) -> None:
    query = select(GenerationModel.id).where(GenerationModel.name == name)
    if model_id is not None:
        query = query.where(GenerationModel.id != model_id)
    if await session.scalar(query) is not None:
        raise Conflict(f"A generation model named {name!r} exists")


async def _take_default(session: AsyncSession, model_id: uuid.UUID) -> None:
    """This model becomes the one default: the others stop being it (one statement first,
    so the partial unique index never sees two)."""
    await session.execute(
        update(GenerationModel)
        .where(GenerationModel.is_default.is_(True), GenerationModel.id != model_id)
        .values(is_default=False, updated_at=utcnow())
    )


def _json_values(data: GenerationModelCreate | GenerationModelUpdate, **kw: Any) -> dict[str, Any]:
    # The JSON columns hold plain values (enums as strings, defaults without nulls).
    values = data.model_dump(mode="json", **kw)
    if isinstance(values.get("defaults"), dict):
        values["defaults"] = {k: v for k, v in values["defaults"].items() if v is not None}
    return values


async def create(session: AsyncSession, data: GenerationModelCreate) -> GenerationModel:
    await _ensure_name_free(session, data.name)
    row = GenerationModel(**_json_values(data))
    if row.is_default:
        await _take_default(session, row.id)
    session.add(row)
    await session.flush()
    return row


async def update_(
    session: AsyncSession, model_id: uuid.UUID, data: GenerationModelUpdate
) -> GenerationModel:
    """Fields given replace the current ones; `is_active` false retires, true un-retires."""
    row = await get(session, model_id, for_update=True)
    values = _json_values(data, exclude_unset=True)
    for key, value in values.items():
        if value is None and not GenerationModel.__table__.columns[key].nullable:  # type: ignore[attr-defined]
            raise Unprocessable(key, f"{key} may not be null")
    if "name" in values:
        await _ensure_name_free(session, values["name"], row.id)
    becomes_default = values.get("is_default", row.is_default)
    if values.get("is_active") is False and becomes_default:
        raise Conflict("The default model cannot be retired: make another model the default")
    if values.get("is_default") is True and not values.get("is_active", row.is_active):
        raise Conflict("A retired model cannot be the default")
    if "is_active" in values:
        row.retired_at = None if values["is_active"] else (row.retired_at or utcnow())
    if values.get("is_default") is True:
        await _take_default(session, row.id)
    for key, value in values.items():
        setattr(row, key, value)
    await session.flush()
    return row


async def _in_use(session: AsyncSession, model_id: uuid.UUID) -> bool:
    """Named by a generation, or by the request of a batch still planning."""
    used = await session.scalar(select(exists().where(Generation.model_id == model_id)))
    if used:
        return True
    batch = ShootingGeneration
    return bool(
        await session.scalar(
            select(
                exists().where(
                    batch.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
                    batch.request["model_id"].astext == str(model_id),
                )
            )
        )
    )


async def delete_(session: AsyncSession, model_id: uuid.UUID) -> GenerationModel | None:
    """Delete the model, or retire it when something names it: None when deleted, the
    retired row otherwise."""
    row = await get(session, model_id, for_update=True)
    if row.is_default:
        raise Conflict("The default model cannot be deleted: make another model the default")
    if await _in_use(session, row.id):
        row.is_active = False
        row.retired_at = row.retired_at or utcnow()
        await session.flush()
        return row
    await session.delete(row)
    await session.flush()
    return None
