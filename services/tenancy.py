"""The tenancy rule of DESIGN §4: a request acts in one scope, an organization or personal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.organization import Membership, OrgRole
from models.user import User
from services.errors import Forbidden, NotFound

MANAGER_ROLES = frozenset({OrgRole.OWNER, OrgRole.ADMIN})


@dataclass(frozen=True, slots=True)
class Scope:
    """Who acts and on which resources: `organization_id` None means personal resources."""

    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    role: OrgRole | None
    is_superuser: bool = False

    def filter(self, model: Any) -> ColumnElement[bool]:
        """Rows of `model` (a TenantMixin table) that belong to this scope."""
        if self.organization_id is not None:
            return model.organization_id == self.organization_id
        return and_(model.organization_id.is_(None), model.owner_id == self.user_id)

    def stamp(self, row: Any) -> Any:
        """Give a new row this scope's ownership."""
        row.organization_id = self.organization_id
        row.owner_id = self.user_id
        return row

    def owns(self, row: Any) -> bool:
        if self.organization_id is not None:
            return row.organization_id == self.organization_id
        return row.organization_id is None and row.owner_id == self.user_id

    def require_manager(self) -> None:
        """Owner/admin of the organization (or a superuser); personal scope manages itself."""
        if self.organization_id is None or self.is_superuser or self.role in MANAGER_ROLES:
            return
        raise Forbidden("Not enough permissions")


async def membership_role(
    session: AsyncSession, *, user_id: uuid.UUID, organization_id: uuid.UUID
) -> OrgRole | None:
    return await session.scalar(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.organization_id == organization_id
        )
    )


async def resolve_scope(
    session: AsyncSession, *, user: User, organization_id: uuid.UUID | None
) -> Scope:
    """The caller's scope; a non-member asking for an organization gets 404, never 403."""
    if organization_id is None:
        return Scope(user.id, None, None, user.is_superuser)
    role = await membership_role(session, user_id=user.id, organization_id=organization_id)
    if role is None and not user.is_superuser:
        raise NotFound("Organization not found")
    return Scope(user.id, organization_id, role, user.is_superuser)
