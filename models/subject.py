"""Subjects: identities (AI-made or real people) that appear across generations."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.base import (
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
    json_field,
)
from models.media import AttachedImage, ImageUpload


class SubjectType(StrEnum):
    AI = "AI"
    REAL = "REAL"


class Gender(StrEnum):
    MALE = "Male"
    FEMALE = "Female"
    OTHER = "Other"


class AgeClass(StrEnum):
    KID = "Kid"
    TEEN = "Teen"
    YOUNG = "Young"
    MIDDLE_AGE = "Middle Age"
    ELDER = "Elder"


class BodyType(StrEnum):
    SLIM = "Slim"
    ATHLETIC = "Athletic"
    AVERAGE = "Average"
    CURVY = "Curvy"
    PLUS_SIZE = "Plus Size"


# One reference image of the subject for a shot type (kept as JSON, DOMAIN §1.4).
class BaseImage(SQLModel):
    image_url: str = Field(max_length=2048)
    shot_type_id: str | None = None
    shot_type_label: str | None = Field(default=None, max_length=255)


# Shared subject properties.
class SubjectBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    surname: str | None = Field(default=None, max_length=255)
    slug: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    subject_type: SubjectType = enum_field(SubjectType, default=SubjectType.AI)
    gender: Gender | None = enum_field(Gender, default=None, nullable=True)
    age_class: AgeClass | None = enum_field(AgeClass, default=None, nullable=True, index=True)
    body_type: BodyType | None = enum_field(BodyType, default=None, nullable=True, index=True)
    eye_color: str | None = Field(default=None, max_length=32)
    hair_color: str | None = Field(default=None, max_length=32)
    is_public: bool = False


# Body of POST /subjects/.
class SubjectCreate(SubjectBase):
    images: list[ImageUpload] = Field(default_factory=list, max_length=20)
    base_images: list[BaseImage] = Field(default_factory=list, max_length=100)


# Body of PATCH /subjects/{id}.
class SubjectUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    surname: str | None = Field(default=None, max_length=255)
    slug: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    subject_type: SubjectType | None = None
    gender: Gender | None = None
    age_class: AgeClass | None = None
    body_type: BodyType | None = None
    eye_color: str | None = Field(default=None, max_length=32)
    hair_color: str | None = Field(default=None, max_length=32)
    is_public: bool | None = None
    base_images: list[BaseImage] | None = Field(default=None, max_length=100)


# The table.
class Subject(IdMixin, TimestampMixin, TenantMixin, SubjectBase, table=True):
    __tablename__ = "subject"
    base_images: list[dict] = json_field()


# What the API returns.
class SubjectPublic(RecordPublic, TenantPublic, SubjectBase):
    images: list[AttachedImage] = []
    base_images: list[BaseImage] = []
