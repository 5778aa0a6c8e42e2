"""Outfits (DOMAIN §1.11): an organization's reusable completion of a look — outfit products
in order, reference image URLs, a styling instruction. A look references one outfit
(`shooting_look.outfit_id`); several looks may share it."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints, field_validator
from sqlmodel import Field, SQLModel

from models.base import IdMixin, RecordPublic, TenantMixin, TenantPublic, TimestampMixin, json_field

MAX_OUTFIT_PRODUCTS = 50
MAX_REFERENCE_URLS = 50


def _http_url(value: str) -> str:
    """Reference URLs go to Compute as they are: an absolute http(s) URL with a host, no
    whitespace or control characters (anything else is a 422 naming the item)."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain whitespace or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


ReferenceUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_http_url)
]


def _unique(ids: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    if ids is not None and len(ids) != len(set(ids)):
        raise ValueError("contains duplicate ids")
    return ids


# Shared outfit properties.
class OutfitBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    styling_instruction: str | None = Field(default=None, max_length=10_000)


# Body of POST /outfits/; `product_ids` in order (an item's position is its index).
class OutfitCreate(OutfitBase):
    product_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_OUTFIT_PRODUCTS)
    reference_urls: list[ReferenceUrl] = Field(default_factory=list, max_length=MAX_REFERENCE_URLS)

    @field_validator("product_ids")
    @classmethod
    def _unique_products(cls, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        return _unique(ids) or []


# Body of PATCH /outfits/{id}; lists, when given, replace the current ones.
class OutfitUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    styling_instruction: str | None = Field(default=None, max_length=10_000)
    product_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_OUTFIT_PRODUCTS)
    reference_urls: list[ReferenceUrl] | None = Field(default=None, max_length=MAX_REFERENCE_URLS)

    @field_validator("product_ids")
    @classmethod
    def _unique_products(cls, ids: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
        return _unique(ids)


# The table.
class Outfit(IdMixin, TimestampMixin, TenantMixin, OutfitBase, table=True):
    __tablename__ = "outfit"
    reference_urls: list[str] = json_field()


# The outfit's products, in order. A deleted product leaves the outfit (its row cascades).
class OutfitProduct(SQLModel, table=True):
    __tablename__ = "outfit_product"
    outfit_id: uuid.UUID = Field(foreign_key="outfit.id", ondelete="CASCADE", primary_key=True)
    product_id: uuid.UUID = Field(
        foreign_key="product.id", ondelete="CASCADE", primary_key=True, index=True
    )
    position: int = 0


# What the API returns.
class OutfitPublic(RecordPublic, TenantPublic, OutfitBase):
    product_ids: list[uuid.UUID] = []
    reference_urls: list[str] = []
