"""Export naming templates are placeholder substitution, never str.format on tenant text:
a bad template is a 422 naming `naming_template` (nothing written), a huge width is refused
at once, valid templates render as before, and a bad template stored before these rules
fails its export with the reason instead of crashing the worker forever."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client

from core.starts import start_export
from models.export_schemas import template_error
from models.jobs import Export
from services.export_naming import _SEPARATORS, _UNSAFE, MAX_STEM, render, slug
from services.tenancy import Scope
from tests.exports.support import seed_approved_images, wait_export
from tests.helpers import Api, UserHandle

VALUES: dict[str, object] = {
    "sku": "AB/12",
    "product": "Robe d'été",
    "shot_type": "Front full",
    "look": "Look 1",
    "shooting": "SS27",
    "n": 3,
    "shot_id": "6c1d2a4e-0000-4000-8000-000000000001",
}
BAD_TEMPLATES = [
    "{sku.__class__}",  # attribute access
    "{sku.__class__.__mro__}",
    "{sku[0]}",  # index access
    "{sku!r}",  # conversion
    "{sku!s:>10}",
    "{sku:>100000000}",  # a 100 MB pad
    "{n:0999999999d}",  # a 1 GB pad
    "{n:07d}",  # N above 6
    "{n:00d}",
    "{n:3d}",  # only the zero-padded form
    "{n:03}",
    "{sku:03d}",  # only n takes a format
    "{colour}",
    "{}",
    "{0}",
    "{sku",  # unbalanced
    "sku}",
    "{sku}}",
    "{{sku}}",  # literal braces only: no placeholder
]


class NoFormat(str):
    """A template that fails the test if anything calls str.format on it."""

    def format(self, *args: object, **kwargs: object) -> str:
        raise AssertionError("str.format called on the template")

    def format_map(self, mapping: object) -> str:
        raise AssertionError("str.format_map called on the template")


async def _exports_of(app: FastAPI, org: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).select_from(Export)
        return int(await session.scalar(query.where(Export.organization_id == uuid.UUID(org))))


@pytest.mark.parametrize("template", BAD_TEMPLATES)
async def test_bad_templates_are_422_naming_the_field_and_write_nothing(
    api: Api, app: FastAPI, user: UserHandle, template: str
) -> None:
    org = user.orgs[0]
    before = await _exports_of(app, org)
    started = time.monotonic()
    r = await api.post(
        "/exports/",
        as_=user,
        params={"organization_id": org},
        json={"shot_ids": [str(uuid.uuid4())], "naming_template": template},
    )
    assert time.monotonic() - started < 2.0  # no giant string was built on the way
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "naming_template"], error
    assert await _exports_of(app, org) == before


def test_huge_widths_are_refused_without_building_them() -> None:
    started = time.monotonic()
    for template in ("{n:0999999999d}", "{sku:>100000000}", "{n:0" + "9" * 200 + "d}"):
        assert template_error(template) is not None
        with pytest.raises(ValueError):  # TemplateError, a ValueError
            render(template, VALUES)
    assert time.monotonic() - started < 0.5


def test_render_and_validation_never_call_str_format() -> None:
    for template in ("{sku}_{shot_type}_{n}", "{n:03d}_{look}", "{{{sku}}}-{shot_id}"):
        assert template_error(NoFormat(template)) is None
        render(NoFormat(template), VALUES)
    assert template_error("{sku.__class__}") is not None
    with pytest.raises(ValueError):
        render("{sku.__class__}", VALUES)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Byte-identical to what str.format produced for these (then made file-name safe).
        ("{sku}_{shot_type}_{n}", "AB-12_Front-full_3"),
        ("{sku}_{shot_type}_{n:03d}", "AB-12_Front-full_003"),
        ("{n:01d}-{n:06d}", "3-000003"),
        ("{shooting}/{look}", "SS27-Look-1"),
        ("{product}", "Robe-d-ete"),
        ("{{{sku}}}", "AB-12"),  # literal braces become `-`, then trimmed
        ("x{{y}}{n}", "x-y-3"),
        ("{shot_id}", "6c1d2a4e-0000-4000-8000-000000000001"),
        ("{look}_{sku}", "Look-1_AB-12"),
    ],
)
def test_valid_templates_render_as_before(template: str, expected: str) -> None:
    assert template_error(template) is None
    assert render(template, VALUES) == expected
    # What the str.format renderer made of it (the test's own trusted template).
    legacy = {k: (v if isinstance(v, int) else slug(v)) for k, v in VALUES.items()}
    stem = _SEPARATORS.sub(r"\1", _UNSAFE.sub("-", template.format(**legacy))).strip("._-")
    assert render(template, VALUES) == (stem[:MAX_STEM].rstrip("._-") or "image")


async def test_a_stored_bad_template_fails_the_export_with_the_reason(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    """An export row from before these rules (written directly: the API refuses it) ends
    `failed` with a message naming the template, not in an endless retry."""
    world = await seed_approved_images(app, api, user, count=1, size=(64, 64))
    org = world["org"]
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
    export_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            scope.stamp(
                Export(
                    id=export_id,
                    shooting_id=uuid.UUID(world["shooting"]["id"]),
                    shot_ids=[],
                    naming_template="{sku.__class__}",
                    workflow_id=f"export-{export_id}",
                )
            )
        )
        await session.commit()
    await start_export(
        temporal,
        export_id=export_id,
        organization_id=uuid.UUID(org),
        owner_id=uuid.UUID(user.id),
        shooting_id=uuid.UUID(world["shooting"]["id"]),
    )
    done = await wait_export(api, user, org, str(export_id), within=30)
    assert done["status"] == "failed", done
    assert done["error_message"].startswith("naming_template: "), done
    assert "{sku.__class__}" in done["error_message"]
