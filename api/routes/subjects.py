"""Subjects (org-scoped: `?organization_id=` or personal; public ones readable by all)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep, StoreDep
from models.base import Page
from models.media import EntityType
from models.subject import AgeClass, BodyType, SubjectCreate, SubjectPublic, SubjectUpdate
from services import subjects, uploads

router = APIRouter(prefix="/subjects", tags=["subjects"])


@router.get("/")
async def list_subjects(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    age_class: AgeClass | None = None,
    body_type: BodyType | None = None,
    include_public: bool = False,
    only_with_base_images: bool = False,
    search: str | None = None,
) -> Page[SubjectPublic]:
    """The scope's subjects (plus everybody's public ones with `include_public`)."""
    rows, count = await subjects.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        age_class=age_class,
        body_type=body_type,
        include_public=include_public,
        only_with_base_images=only_with_base_images,
        search=search,
    )
    return Page(
        data=await uploads.with_images(session, EntityType.SUBJECT, rows, SubjectPublic),
        count=count,
    )


@router.post("/", status_code=201)
async def create_subject(
    body: SubjectCreate, session: SessionDep, scope: ScopeDep, store: StoreDep
) -> SubjectPublic:
    subject = await subjects.create(session, scope, body, store=store)
    await session.commit()
    await uploads.discard_consumed(session, store)
    return (await uploads.with_images(session, EntityType.SUBJECT, [subject], SubjectPublic))[0]


@router.get("/{subject_id}")
async def read_subject(
    subject_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> SubjectPublic:
    """A subject of the scope, or a public subject of anybody."""
    return (
        await uploads.with_images(
            session,
            EntityType.SUBJECT,
            [await subjects.get(session, scope, subject_id)],
            SubjectPublic,
        )
    )[0]


@router.patch("/{subject_id}")
async def update_subject(
    subject_id: uuid.UUID, body: SubjectUpdate, session: SessionDep, scope: ScopeDep
) -> SubjectPublic:
    """Update a subject of the scope (`base_images`, when given, replaces the list)."""
    subject = await subjects.update(session, scope, subject_id, body)
    await session.commit()
    return (await uploads.with_images(session, EntityType.SUBJECT, [subject], SubjectPublic))[0]


@router.delete("/{subject_id}", status_code=204)
async def delete_subject(subject_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await subjects.delete(session, scope, subject_id)
    await session.commit()
    return Response(status_code=204)
