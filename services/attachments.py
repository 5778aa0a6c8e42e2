"""The one rule for media attachments when entities go (DOMAIN §4.5): deleting rows removes
the attachments of those rows and of every row the database deletes with them (ON DELETE
CASCADE), in the same transaction. Their media become orphans, which the orphan scan
reclaims (row, then object) after its grace period.

A new attachable table follows the rule by being added to ATTACHABLE (its EntityType and
its table): every delete path reaches it through the cascade walk, read from the tables'
own foreign keys. tests/media/test_attachment_rule.py checks that every EntityType is mapped
and removed by some delete path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

import models  # noqa: F401  (every table registered: the cascade walk reads the metadata)
from models.generation import Prediction
from models.media import EntityType, MediaResource, MediaResourceAttachment
from models.organization import Organization
from models.outfit import Outfit
from models.preset import BackgroundPreset
from models.product import Product
from models.shot import ShotRevision
from models.shot_type import ShotType, Visibility
from models.style import Style
from models.subject import Subject

# entity_type -> the table whose ids its attachments' entity_id hold.
ATTACHABLE: dict[EntityType, type[SQLModel]] = {
    EntityType.PRODUCT: Product,
    EntityType.SUBJECT: Subject,
    EntityType.STYLE: Style,
    EntityType.SHOT_TYPE: ShotType,
    EntityType.ORGANIZATION: Organization,
    EntityType.PREDICTION: Prediction,
    EntityType.SHOT_REVISION: ShotRevision,
    EntityType.OUTFIT: Outfit,
    EntityType.BACKGROUND_PRESET: BackgroundPreset,
}


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


_TYPE_OF_TABLE = {_table(model).name: kind for kind, model in ATTACHABLE.items()}


def _cascading_children(parent: sa.Table) -> Iterator[tuple[sa.Table, sa.Column[Any]]]:
    """(child table, its column) for every foreign key onto `parent` that cascades."""
    for child in SQLModel.metadata.tables.values():
        if "id" not in child.c:
            continue  # a link table: nothing references it, nothing attaches to it
        for fk in child.foreign_keys:
            if fk.column.table is parent and (fk.ondelete or "").upper() == "CASCADE":
                yield child, fk.parent


def removed_rows(
    model: type[SQLModel], ids: Select[Any] | Sequence[uuid.UUID]
) -> dict[str, list[Select[Any]]]:
    """Table name -> selects of the ids of its rows that deleting `model` rows `ids` removes
    (those rows themselves, and everything the database cascades away with them)."""
    root = _table(model)
    found: dict[str, list[Select[Any]]] = {}

    def walk(table: sa.Table, selected: Select[Any], path: frozenset[str]) -> None:
        found.setdefault(table.name, []).append(selected)
        for child, column in _cascading_children(table):
            if child.name not in path:
                walk(child, select(child.c.id).where(column.in_(selected)), path | {child.name})

    start = ids if isinstance(ids, Select) else select(root.c.id).where(root.c.id.in_(list(ids)))
    walk(root, start, frozenset({root.name}))
    return found


async def detach_all(
    session: AsyncSession, model: type[SQLModel], ids: Select[Any] | Sequence[uuid.UUID]
) -> None:
    """Remove the attachments of the rows about to be deleted and of their cascaded rows.
    Call it in the deleting transaction, before the delete (the walk reads the rows)."""
    if not isinstance(ids, Select) and not ids:
        return
    attachment = MediaResourceAttachment
    for table_name, selects in removed_rows(model, ids).items():
        kind = _TYPE_OF_TABLE.get(table_name)
        if kind is None:
            continue
        await session.execute(
            sa.delete(attachment).where(
                attachment.entity_type == kind,
                or_(*(attachment.entity_id.in_(s) for s in selects)),
            )
        )


async def delete(session: AsyncSession, row: SQLModel) -> None:
    """Delete one entity row the way every delete path does: attachments first."""
    await detach_all(session, type(row), [row.id])  # type: ignore[attr-defined]
    await session.delete(row)


async def release_organization_media(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Before an organization goes: its media rows would cascade away with it and leave
    their objects behind. They are released instead (no scope, not protected: nobody
    can reach or protect them any more), so the orphan scan deletes each row and then its
    object (dead-lettered on failure), as for any orphan."""
    await session.execute(
        sa.update(MediaResource)
        .where(MediaResource.organization_id == organization_id)
        .values(organization_id=None, owner_id=None, protected=False, updated_at=sa.func.now())
    )


def publicly_attached() -> ColumnElement[bool]:
    """Media shown by an entity everybody may list (public subjects and shot types, system
    background presets): readable by every signed-in user."""
    public: list[tuple[EntityType, Select[Any]]] = [
        (EntityType.SUBJECT, select(Subject.id).where(Subject.is_public.is_(True))),
        (
            EntityType.SHOT_TYPE,
            select(ShotType.id).where(ShotType.visibility == Visibility.PUBLIC),
        ),
        (
            EntityType.BACKGROUND_PRESET,
            select(BackgroundPreset.id).where(BackgroundPreset.is_system.is_(True)),
        ),
    ]
    attachment = MediaResourceAttachment
    return sa.exists().where(
        attachment.media_resource_id == MediaResource.id,
        or_(
            *(
                (attachment.entity_type == kind) & attachment.entity_id.in_(ids)
                for kind, ids in public
            )
        ),
    )
