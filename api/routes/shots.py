"""Shots, their revisions and review decisions (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.shot import ReviewDecision, RevisionStatus, ShotPublic, ShotRevisionPublic, ShotUpdate
from services import shots

router = APIRouter(prefix="/shots", tags=["shots"])


@router.get("/")
async def list_shots(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    shooting_id: uuid.UUID | None = None,
    look_id: uuid.UUID | None = None,
    status: RevisionStatus | None = None,
) -> Page[ShotPublic]:
    """`status` filters on the current revision's status (`pending` without one)."""
    rows, count = await shots.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        shooting_id=shooting_id,
        look_id=look_id,
        status=status,
    )
    return Page(data=rows, count=count)


@router.get("/{shot_id}")
async def read_shot(shot_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> ShotPublic:
    return await shots.get_public(session, scope, shot_id)


@router.patch("/{shot_id}")
async def update_shot(
    shot_id: uuid.UUID, body: ShotUpdate, session: SessionDep, scope: ScopeDep
) -> ShotPublic:
    shot = await shots.update(session, scope, shot_id, body)
    await session.commit()
    return shot


@router.get("/{shot_id}/revisions")
async def list_shot_revisions(
    shot_id: uuid.UUID, session: SessionDep, scope: ScopeDep, page: PageDep
) -> Page[ShotRevisionPublic]:
    rows, count = await shots.list_revisions(
        session, scope, shot_id, skip=page.skip, limit=page.limit
    )
    return Page(data=rows, count=count)


@router.post("/{shot_id}/approve")
async def approve_shot(
    shot_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    body: ReviewDecision | None = None,
) -> ShotPublic:
    """Approve the current revision (from `in_review`, or `rejected` to re-approve)."""
    shot = await shots.approve(session, scope, shot_id, notes=body.notes if body else None)
    await session.commit()
    return shot


@router.post("/{shot_id}/reject")
async def reject_shot(
    shot_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    body: ReviewDecision | None = None,
) -> ShotPublic:
    """Reject the current revision (from `in_review`, or `approved` to unapprove)."""
    shot = await shots.reject(session, scope, shot_id, notes=body.notes if body else None)
    await session.commit()
    return shot
