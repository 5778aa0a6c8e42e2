"""Shooting guidelines: subjects, pose presets and shot-type rules (DOMAIN §1.6)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.guideline import (
    Guideline,
    GuidelineCreate,
    GuidelinePublic,
    GuidelineShotTypeRule,
    GuidelineSubject,
    GuidelineUpdate,
    PosePreset,
    PosePresetBase,
    PosePresetPublic,
    ShotTypeRuleCreate,
    ShotTypeRuleGroup,
    ShotTypeRulePublic,
)
from models.preset import BackgroundPreset, ResolutionPreset
from models.shot_type import ShotType
from models.subject import Subject
from services import attachments, presets, shot_types, subjects
from services.repository import apply_update, ensure_visible, get_row, list_rows, matches
from services.tenancy import Scope

Rule = GuidelineShotTypeRule
_LISTS = {"subject_ids", "pose_presets"}


async def _check_references(
    session: AsyncSession, scope: Scope, data: GuidelineCreate | GuidelineUpdate
) -> None:
    """Referenced subjects and presets must be readable by the scope (404 naming the id)."""
    await ensure_visible(
        session, Subject, data.subject_ids or [], where=subjects.readable(scope), what="Subject"
    )
    for model, ref in (
        (ResolutionPreset, data.resolution_preset_id),
        (BackgroundPreset, data.background_preset_id),
    ):
        where = presets.readable(model, scope)
        await ensure_visible(session, model, [ref], where=where, what=presets.WHAT[model])


async def _replace_lists(
    session: AsyncSession,
    guideline_id: uuid.UUID,
    subject_ids: Sequence[uuid.UUID] | None,
    poses: Sequence[PosePresetBase] | None,
) -> None:
    """Replace the subjects and/or pose presets that are given (None: keep)."""
    if subject_ids is not None:
        await session.execute(
            delete_rows(GuidelineSubject).where(GuidelineSubject.guideline_id == guideline_id)
        )
        session.add_all(
            GuidelineSubject(guideline_id=guideline_id, subject_id=s)
            for s in dict.fromkeys(subject_ids)
        )
    if poses is not None:
        await session.execute(
            delete_rows(PosePreset).where(PosePreset.guideline_id == guideline_id)
        )
        session.add_all(
            PosePreset(guideline_id=guideline_id, position=i, **pose.model_dump())
            for i, pose in enumerate(poses)
        )
    await session.flush()


async def to_public(session: AsyncSession, rows: Sequence[Guideline]) -> list[GuidelinePublic]:
    """Guidelines with their subject ids and ordered pose presets (two queries per page)."""
    ids = [r.id for r in rows]
    subject_ids: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    poses: dict[uuid.UUID, list[PosePresetPublic]] = defaultdict(list)
    links = await session.execute(
        select(GuidelineSubject.guideline_id, GuidelineSubject.subject_id)
        .where(GuidelineSubject.guideline_id.in_(ids))
        .order_by(GuidelineSubject.subject_id)
    )
    for guideline_id, subject_id in links:
        subject_ids[guideline_id].append(subject_id)
    pose_rows = await session.scalars(
        select(PosePreset)
        .where(PosePreset.guideline_id.in_(ids))
        .order_by(PosePreset.position, PosePreset.id)
    )
    for pose in pose_rows:
        poses[pose.guideline_id].append(PosePresetPublic.model_validate(pose))
    return [
        GuidelinePublic.model_validate(
            r, update={"subject_ids": subject_ids[r.id], "pose_presets": poses[r.id]}
        )
        for r in rows
    ]


async def create(session: AsyncSession, scope: Scope, data: GuidelineCreate) -> Guideline:
    await _check_references(session, scope, data)
    guideline = scope.stamp(Guideline(**data.model_dump(exclude=_LISTS)))
    session.add(guideline)
    await session.flush()
    await _replace_lists(session, guideline.id, data.subject_ids, data.pose_presets)
    return guideline


async def list_(
    session: AsyncSession, scope: Scope, *, skip: int, limit: int, search: str | None = None
) -> tuple[list[Guideline], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Guideline)]
    if search:
        where.append(matches(search, Guideline.name, Guideline.description))
    return await list_rows(session, Guideline, where=where, skip=skip, limit=limit)


async def get(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID, *, for_update: bool = False
) -> Guideline:
    return await get_row(
        session,
        Guideline,
        guideline_id,
        where=scope.filter(Guideline),
        what="Guideline",
        for_update=for_update,
    )


async def update(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID, data: GuidelineUpdate
) -> Guideline:
    """PATCH semantics; `subject_ids` / `pose_presets`, when given, replace the lists."""
    guideline = await get(session, scope, guideline_id, for_update=True)
    await _check_references(session, scope, data)
    apply_update(guideline, data, exclude=_LISTS)
    await _replace_lists(session, guideline.id, data.subject_ids, data.pose_presets)
    return guideline


async def delete(session: AsyncSession, scope: Scope, guideline_id: uuid.UUID) -> None:
    await attachments.delete(session, await get(session, scope, guideline_id))


# Shot-type rules (always reached through a guideline of the scope).


def rule_public(rule: Rule) -> ShotTypeRulePublic:
    return ShotTypeRulePublic.model_validate(rule, update={"guidelines_id": rule.guideline_id})


async def _check_shot_types(
    session: AsyncSession, scope: Scope, rules: Iterable[ShotTypeRuleCreate]
) -> None:
    ids = [r.shot_type_id for r in rules]
    where = shot_types.readable(scope)
    await ensure_visible(session, ShotType, ids, where=where, what="Shot type")


async def list_rules(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID, *, skip: int, limit: int
) -> tuple[list[Rule], int]:
    guideline = await get(session, scope, guideline_id)
    where = [Rule.guideline_id == guideline.id]
    order = (Rule.created_at, Rule.id)
    return await list_rows(session, Rule, where=where, skip=skip, limit=limit, order_by=order)


async def add_rule(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID, data: ShotTypeRuleCreate
) -> Rule:
    guideline = await get(session, scope, guideline_id, for_update=True)
    await _check_shot_types(session, scope, [data])
    rule = Rule(guideline_id=guideline.id, **data.model_dump())
    session.add(rule)
    await session.flush()
    return rule


async def replace_rules(
    session: AsyncSession,
    scope: Scope,
    guideline_id: uuid.UUID,
    rules: Sequence[ShotTypeRuleCreate],
) -> list[Rule]:
    """Swap the whole rule set; every shot type is checked before anything changes."""
    guideline = await get(session, scope, guideline_id, for_update=True)
    await _check_shot_types(session, scope, rules)
    await session.execute(delete_rows(Rule).where(Rule.guideline_id == guideline.id))
    # Distinct timestamps keep the given order (rules are listed by created_at).
    now = utcnow()
    new = [
        Rule(
            guideline_id=guideline.id, created_at=now + timedelta(microseconds=i), **r.model_dump()
        )
        for i, r in enumerate(rules)
    ]
    session.add_all(new)
    await session.flush()
    return new


async def grouped_rules(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID
) -> list[ShotTypeRuleGroup]:
    """Rules grouped by shot type (in first-seen order), then kind → values."""
    guideline = await get(session, scope, guideline_id)
    rows = await session.scalars(
        select(Rule).where(Rule.guideline_id == guideline.id).order_by(Rule.created_at, Rule.id)
    )
    groups: dict[uuid.UUID | None, dict[str, list[str]]] = {}
    for rule in rows:
        groups.setdefault(rule.shot_type_id, {}).setdefault(rule.rule_kind, []).append(
            rule.rule_value
        )
    return [ShotTypeRuleGroup(shot_type_id=k, rules=v) for k, v in groups.items()]


async def delete_rule(
    session: AsyncSession, scope: Scope, guideline_id: uuid.UUID, rule_id: uuid.UUID
) -> None:
    guideline = await get(session, scope, guideline_id)
    where = Rule.guideline_id == guideline.id
    await session.delete(await get_row(session, Rule, rule_id, where=where, what="Shot type rule"))
