"""Which images an export contains, under which names, and the plan file that lists them.

The plan is fixed once, before any image is written: a resumed or retried step reads the
same list in the same order, which is what makes the archive reproducible.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.jobs import Export
from models.media import MediaResource
from models.product import Product
from models.shooting import Shooting, ShootingLook
from models.shot import RevisionStatus, Shot, ShotRevision
from models.shot_type import ShotType
from services import shots as shot_service
from services.export_images import target_extension
from services.export_naming import UniqueNames, render, slug
from services.tenancy import Scope

MANIFEST_NAME = "manifest.csv"
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
MAX_PARTS = 9_000  # S3 allows 10,000; keep headroom for conversions that grow
# Checkpoints carry one small record per image, so an export is bounded.
MAX_IMAGES = 5_000


@dataclass(frozen=True, slots=True)
class PlannedImage:
    media_id: str
    storage_key: str
    file_name: str
    shot_id: str
    look: str
    shot_type: str
    sku: str
    source_bytes: int


def plan_key(export_id: uuid.UUID | str) -> str:
    return f"exports/{export_id}/plan.json"


def dumps(items: list[PlannedImage]) -> bytes:
    return json.dumps({"version": 1, "items": [asdict(i) for i in items]}).encode()


def loads(data: bytes) -> list[PlannedImage]:
    return [PlannedImage(**item) for item in json.loads(data)["items"]]


def part_size(items: list[PlannedImage]) -> int:
    """Parts of at least 5 MiB, larger when the archive could otherwise need too many.
    A conversion (say JPEG → PNG) can grow an image several times: assume 4 times."""
    estimate = 4 * sum(i.source_bytes for i in items) + MIB
    return max(MIN_PART_SIZE, math.ceil(estimate / MAX_PARTS / MIB) * MIB)


def result_key(export: Export, shooting_name: str | None) -> str:
    stem = slug(shooting_name) if shooting_name else ""
    return f"exports/{export.id}/{stem or 'export'}.zip"


async def _shots(session: AsyncSession, export: Export) -> list[Any]:
    """(shot, revision, look, shooting, shot type, product) rows in export order."""
    owner = export.owner_id or uuid.UUID(int=0)  # an orphaned personal export sees nothing
    scope = Scope(user_id=owner, organization_id=export.organization_id, role=None)
    query = (
        select(Shot, ShotRevision, ShootingLook, Shooting, ShotType, Product)
        .join(ShotRevision, ShotRevision.id == Shot.current_revision_id)
        .join(ShootingLook, ShootingLook.id == Shot.look_id)
        .join(Shooting, Shooting.id == Shot.shooting_id)
        .join(ShotType, ShotType.id == Shot.shot_type_id)
        .outerjoin(Product, Product.id == ShootingLook.main_product_id)
        .where(scope.filter(Shot))
    )
    if export.only_approved:
        query = query.where(ShotRevision.status == RevisionStatus.APPROVED)
    if export.shooting_id is not None:
        query = query.where(Shot.shooting_id == export.shooting_id).order_by(
            ShootingLook.position, ShootingLook.created_at, ShootingLook.id, Shot.position, Shot.id
        )
        return list(await session.execute(query))
    wanted = [uuid.UUID(s) for s in export.shot_ids]
    rows = {row[0].id: row for row in await session.execute(query.where(Shot.id.in_(wanted)))}
    return [rows[s] for s in wanted if s in rows]  # the order the client asked for


async def resolve(session: AsyncSession, export: Export) -> tuple[list[PlannedImage], str | None]:
    """The images of an export with their unique file names, and the shooting's name."""
    rows = await _shots(session, export)
    media_by_revision = await shot_service.media_ids_by_revision(
        session, (row[1].id for row in rows)
    )
    media_ids = {m for ids in media_by_revision.values() for m in ids}
    media = {
        m.id: m
        for m in await session.scalars(select(MediaResource).where(MediaResource.id.in_(media_ids)))
    }
    names = UniqueNames(reserved=(MANIFEST_NAME,))
    items: list[PlannedImage] = []
    shooting_name = None
    for shot, revision, look, shooting, shot_type, product in rows:
        shooting_name = shooting_name or shooting.name
        look_name = look.name or f"look-{look.position + 1}"
        sku = (product.sku if product else None) or ""
        images = [media[m] for m in media_by_revision.get(revision.id, []) if m in media]
        for n, resource in enumerate(images, start=1):
            stem = render(
                export.naming_template,
                {
                    "sku": sku,
                    "product": product.name if product else "",
                    "shot_type": shot_type.name,
                    "look": look_name,
                    "shooting": shooting.name,
                    "n": n,
                    "shot_id": str(shot.id),
                },
            )
            extension = target_extension(export.format.value, resource.extension)
            items.append(
                PlannedImage(
                    media_id=str(resource.id),
                    storage_key=resource.storage_key,
                    file_name=names.take(stem, extension),
                    shot_id=str(shot.id),
                    look=look_name,
                    shot_type=shot_type.name,
                    sku=sku,
                    source_bytes=resource.file_size,
                )
            )
    if export.shooting_id is None:
        shooting_name = None  # a hand-picked selection is not named after one shooting
    return items, shooting_name
