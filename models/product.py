"""Products: the garments and items shown in generated images."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import IdMixin, RecordPublic, TenantMixin, TenantPublic, TimestampMixin, json_field
from models.media import AttachedImage, ImageUpload


# Shared product properties.
class ProductBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(default=None, max_length=128)
    product_family: str | None = Field(default=None, max_length=64)
    product_type: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=10_000)


# Body of POST /products/; `images` are uploads from POST /uploads/presigned-url.
class ProductCreate(ProductBase):
    tags: list[str] = Field(default_factory=list, max_length=100)
    images: list[ImageUpload] = Field(default_factory=list, max_length=20)


# Body of PATCH /products/{id}.
class ProductUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    sku: str | None = Field(default=None, max_length=128)
    product_family: str | None = Field(default=None, max_length=64)
    product_type: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=10_000)
    tags: list[str] | None = Field(default=None, max_length=100)


# The table. SKU is the upsert key of bulk uploads, unique per organization (or per owner
# for personal products), enforced by two partial indexes.
class Product(IdMixin, TimestampMixin, TenantMixin, ProductBase, table=True):
    __tablename__ = "product"
    __table_args__ = (
        sa.Index(
            "uq_product_organization_id_sku",
            "organization_id",
            "sku",
            unique=True,
            postgresql_where=sa.text("organization_id IS NOT NULL AND sku IS NOT NULL"),
        ),
        sa.Index(
            "uq_product_owner_id_sku",
            "owner_id",
            "sku",
            unique=True,
            postgresql_where=sa.text("organization_id IS NULL AND sku IS NOT NULL"),
        ),
    )
    tags: list[str] = json_field()
    # Legacy URL columns kept for backward compatibility (DOMAIN §1.3).
    cover_image_url: str | None = Field(default=None, max_length=2048)
    back_image_url: str | None = Field(default=None, max_length=2048)


# What the API returns.
class ProductPublic(RecordPublic, TenantPublic, ProductBase):
    tags: list[str] = []
    cover_image_url: str | None = None
    back_image_url: str | None = None
    cover_image_id: uuid.UUID | None = None
    images: list[AttachedImage] = []
