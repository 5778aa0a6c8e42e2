"""SQLModel tables and their API schemas; importing this package registers every table."""

from sqlmodel import SQLModel

from models import (  # noqa: F401  (import for table registration)
    generation,
    generation_model,
    guideline,
    invitation,
    jobs,
    media,
    organization,
    outfit,
    preset,
    product,
    setting,
    shooting,
    shooting_generation,
    shot,
    shot_type,
    style,
    subject,
    user,
)
from models.base import Message, Page

metadata = SQLModel.metadata

__all__ = ["Message", "Page", "metadata"]
