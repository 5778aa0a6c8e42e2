"""Shooting guidelines and their shot-type rules (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.guideline import (
    GuidelineCreate,
    GuidelinePublic,
    GuidelineUpdate,
    ShotTypeRuleCreate,
    ShotTypeRuleGroup,
    ShotTypeRulePublic,
    ShotTypeRulesReplace,
)
from services import guidelines

router = APIRouter(prefix="/guidelines", tags=["guidelines"])


@router.get("/")
async def list_guidelines(
    session: SessionDep, scope: ScopeDep, page: PageDep, search: str | None = None
) -> Page[GuidelinePublic]:
    rows, count = await guidelines.list_(
        session, scope, skip=page.skip, limit=page.limit, search=search
    )
    return Page(data=await guidelines.to_public(session, rows), count=count)


@router.post("/", status_code=201)
async def create_guideline(
    body: GuidelineCreate, session: SessionDep, scope: ScopeDep
) -> GuidelinePublic:
    """Create a guideline with its subjects and pose presets (all must be visible: 404)."""
    guideline = await guidelines.create(session, scope, body)
    (public,) = await guidelines.to_public(session, [guideline])
    await session.commit()
    return public


@router.get("/{guideline_id}")
async def read_guideline(
    guideline_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> GuidelinePublic:
    guideline = await guidelines.get(session, scope, guideline_id)
    (public,) = await guidelines.to_public(session, [guideline])
    return public


@router.patch("/{guideline_id}")
async def update_guideline(
    guideline_id: uuid.UUID, body: GuidelineUpdate, session: SessionDep, scope: ScopeDep
) -> GuidelinePublic:
    """Update a guideline; `subject_ids` / `pose_presets`, when given, replace the lists."""
    guideline = await guidelines.update(session, scope, guideline_id, body)
    (public,) = await guidelines.to_public(session, [guideline])
    await session.commit()
    return public


@router.delete("/{guideline_id}", status_code=204)
async def delete_guideline(
    guideline_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> Response:
    await guidelines.delete(session, scope, guideline_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/{guideline_id}/shot-type-rules/")
async def list_shot_type_rules(
    guideline_id: uuid.UUID, session: SessionDep, scope: ScopeDep, page: PageDep
) -> Page[ShotTypeRulePublic]:
    """The guideline's rules as flat rows, oldest first."""
    rows, count = await guidelines.list_rules(
        session, scope, guideline_id, skip=page.skip, limit=page.limit
    )
    return Page(data=[guidelines.rule_public(r) for r in rows], count=count)


@router.post("/{guideline_id}/shot-type-rules/", status_code=201)
async def add_shot_type_rule(
    guideline_id: uuid.UUID, body: ShotTypeRuleCreate, session: SessionDep, scope: ScopeDep
) -> ShotTypeRulePublic:
    """Add one rule; its shot type must be the scope's own or public."""
    rule = await guidelines.add_rule(session, scope, guideline_id, body)
    await session.commit()
    return guidelines.rule_public(rule)


@router.put("/{guideline_id}/shot-type-rules/bulk-replace")
async def replace_shot_type_rules(
    guideline_id: uuid.UUID, body: ShotTypeRulesReplace, session: SessionDep, scope: ScopeDep
) -> Page[ShotTypeRulePublic]:
    """Replace the whole rule set atomically (nothing changes if any shot type is unknown)."""
    rules = await guidelines.replace_rules(session, scope, guideline_id, body.rules)
    await session.commit()
    return Page(data=[guidelines.rule_public(r) for r in rules], count=len(rules))


@router.get("/{guideline_id}/shot-type-rules/grouped")
async def group_shot_type_rules(
    guideline_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> list[ShotTypeRuleGroup]:
    """The rules grouped by shot type, then by kind: `{kind: [values]}`."""
    return await guidelines.grouped_rules(session, scope, guideline_id)


@router.delete("/{guideline_id}/shot-type-rules/{rule_id}", status_code=204)
async def delete_shot_type_rule(
    guideline_id: uuid.UUID, rule_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> Response:
    await guidelines.delete_rule(session, scope, guideline_id, rule_id)
    await session.commit()
    return Response(status_code=204)
