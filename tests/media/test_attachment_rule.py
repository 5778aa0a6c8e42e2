"""The attachment rule of services/attachments.py, checked on the tables themselves (pure: no
database). A new EntityType must be mapped to its table, and some delete path the API tests
exercise (tests/maintenance/test_nothing_stranded.py) must remove its rows."""

from __future__ import annotations

import uuid

from sqlmodel import SQLModel

from models.media import EntityType
from models.organization import Organization
from models.outfit import Outfit
from models.preset import BackgroundPreset
from models.product import Product
from models.shooting import Shooting, ShootingLook
from models.shot import Shot
from models.shot_type import ShotType
from models.style import Style
from models.subject import Subject
from services.attachments import ATTACHABLE, removed_rows

# The delete paths tests/maintenance/test_nothing_stranded.py drives through the API
# (Shot: a look update that drops a shot type deletes its shot).
TESTED_DELETE_PATHS: tuple[type[SQLModel], ...] = (
    Product,
    Subject,
    Style,
    ShotType,
    BackgroundPreset,
    Shot,
    ShootingLook,
    Shooting,
    Outfit,
    Organization,
)


def _removed(root: type[SQLModel]) -> set[str]:
    return set(removed_rows(root, [uuid.uuid4()]))


def test_every_entity_type_names_its_table() -> None:
    assert set(ATTACHABLE) == set(EntityType)
    tables = [model.__table__.name for model in ATTACHABLE.values()]  # type: ignore[attr-defined]
    assert len(tables) == len(set(tables))


def test_every_entity_type_is_removed_by_a_tested_delete_path() -> None:
    for kind, model in ATTACHABLE.items():
        table = model.__table__.name  # type: ignore[attr-defined]
        paths = [root.__name__ for root in TESTED_DELETE_PATHS if table in _removed(root)]
        assert paths, f"{kind}: no tested delete path removes {table} rows"


def test_an_organization_takes_every_attachable_table_with_it() -> None:
    tables = {model.__table__.name for model in ATTACHABLE.values()}  # type: ignore[attr-defined]
    assert tables <= _removed(Organization)


def test_a_shooting_takes_its_looks_shots_and_revisions() -> None:
    assert {"shooting", "shooting_look", "shot", "shot_revision"} <= _removed(Shooting)
    assert _removed(ShootingLook) >= {"shooting_look", "shot", "shot_revision"}
    # What survives the parent (SET NULL) is not walked: a shot type's shots keep it.
    assert "shot" not in _removed(ShotType) and "generation" not in _removed(Shooting)
