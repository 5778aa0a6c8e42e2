"""What the business rules of services/generation_checks.py are checked on, read for a
look: its guidelines in order, the shooting's default guidelines, their allowed subjects,
the model's limits. (The output size and format, by the documented precedence, come from
services/compute_request_load.py: one precedence for the rules and the request.)"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import GenerationStrategy
from models.generation_model import GenerationModel
from models.guideline import Guideline, GuidelineSubject
from models.shooting import Shooting, ShootingLook, ShootingLookGuideline
from services.generation_checks import GenerationFacts, GuidelineFacts, ModelFacts


async def guidelines(
    session: AsyncSession, look: ShootingLook, shooting: Shooting
) -> tuple[list[Guideline], list[Guideline]]:
    """(the look's guidelines by position, the shooting's default guidelines)."""
    link = ShootingLookGuideline
    own = list(
        await session.scalars(
            select(Guideline)
            .join(link, link.guideline_id == Guideline.id)
            .where(link.look_id == look.id)
            .order_by(link.position, link.guideline_id)
        )
    )
    default: list[Guideline] = []
    if shooting.default_guidelines_id is not None:
        row = await session.get(Guideline, shooting.default_guidelines_id)
        if row is not None:
            default.append(row)
    return own, default


async def allowed_subjects(
    session: AsyncSession, guideline_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if guideline_ids:
        rows = await session.execute(
            select(GuidelineSubject.guideline_id, GuidelineSubject.subject_id).where(
                GuidelineSubject.guideline_id.in_(list(guideline_ids))
            )
        )
        for guideline_id, subject_id in rows:
            found[guideline_id].add(subject_id)
    return found


def model_facts(model: GenerationModel) -> ModelFacts:
    return ModelFacts(
        name=model.name,
        tool_types=frozenset(model.tool_types),
        max_output_width=model.max_output_width,
        max_output_height=model.max_output_height,
        max_size_pixels=model.max_size_pixels,
    )


async def generation_facts(
    session: AsyncSession,
    *,
    look: ShootingLook,
    own: Sequence[Guideline],
    default: Sequence[Guideline],
    model: GenerationModel | None,
    strategy: GenerationStrategy,
    output: dict[str, Any],
) -> GenerationFacts:
    subjects = await allowed_subjects(session, [g.id for g in (*own, *default)])

    def facts(rows: Sequence[Guideline]) -> list[GuidelineFacts]:
        return [
            GuidelineFacts(id=g.id, name=g.name, subject_ids=frozenset(subjects.get(g.id, ())))
            for g in rows
        ]

    return GenerationFacts(
        strategy=strategy,
        width=int(output["width"]),
        height=int(output["height"]),
        subject_id=look.subject_id,
        model=model_facts(model) if model is not None else None,
        look_guidelines=facts(own),
        default_guidelines=facts(default),
    )
