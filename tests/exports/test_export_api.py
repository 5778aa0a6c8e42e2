"""Export API rules that need no worker: payload validation and tenancy."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from models.jobs import Export
from tests.generation.conftest import make_shot
from tests.helpers import Api, UserHandle

SHOOTING = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"shooting_id": SHOOTING, "shot_ids": [SHOOTING]},
        {"shot_ids": []},
        {"shooting_id": SHOOTING, "naming_template": "{sku}_{colour}"},
        {"shooting_id": SHOOTING, "naming_template": "{}"},
        {"shooting_id": SHOOTING, "naming_template": "{sku"},
        {"shooting_id": SHOOTING, "naming_template": "plain"},
        {"shooting_id": SHOOTING, "format": "tiff"},
        {"shooting_id": SHOOTING, "max_dimension": 63},
        {"shooting_id": SHOOTING, "max_dimension": 8193},
        {"shooting_id": SHOOTING, "target": "ftp"},
        {"shooting_id": SHOOTING, "target": "webhook"},
        {"shooting_id": SHOOTING, "target": "webhook", "webhook_url": "https://x.example/h"},
        {"shooting_id": SHOOTING, "target": "webhook", "webhook_secret": "0123456789"},
        {
            "shooting_id": SHOOTING,
            "target": "webhook",
            "webhook_url": "ftp://x.example/h",
            "webhook_secret": "0123456789",
        },
        {"shooting_id": SHOOTING, "webhook_secret": "0123456789"},
    ],
)
async def test_invalid_payloads_are_422(api: Api, user: UserHandle, body: dict[str, Any]) -> None:
    r = await api.post("/exports/", as_=user, params={"organization_id": user.orgs[0]}, json=body)
    assert r.status_code == 422, r.text


async def test_shots_and_shootings_outside_the_scope_are_404(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    theirs = await make_shot(api, other_user)
    mine = await make_shot(api, user)
    org = user.orgs[0]
    for body in (
        {"shooting_id": theirs["shooting"]["id"]},
        {"shot_ids": [mine["shot_ids"][0], theirs["shot_ids"][0]]},
        {"shot_ids": [str(uuid.uuid4())]},
    ):
        r = await api.post("/exports/", as_=user, params={"organization_id": org}, json=body)
        assert r.status_code == 404, (body, r.text)
    # personal scope does not see the organization's shooting either
    r = await api.post("/exports/", as_=user, json={"shooting_id": mine["shooting"]["id"]})
    assert r.status_code == 404


async def test_another_organization_gets_404_and_never_the_secret(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    async with app.state.sessionmaker() as session:
        export = Export(
            organization_id=uuid.UUID(org),
            owner_id=uuid.UUID(user.id),
            shot_ids=[],
            target="webhook",
            webhook_url="https://hooks.example/x",
            webhook_secret="super-secret-value",
        )
        session.add(export)
        await session.commit()
    path = f"/exports/{export.id}"
    for params in ({"organization_id": org}, {"organization_id": other_user.orgs[0]}, {}):
        assert (await api.get(path, as_=other_user, params=params)).status_code == 404
        assert (await api.post(f"{path}/cancel", as_=other_user, params=params)).status_code == 404
    listed = await api.get(
        "/exports/", as_=other_user, params={"organization_id": other_user.orgs[0]}
    )
    assert str(export.id) not in [e["id"] for e in listed.json()["data"]]

    mine = await api.get(path, as_=user, params={"organization_id": org})
    assert mine.status_code == 200
    assert mine.json()["webhook_url"] == "https://hooks.example/x"
    assert "super-secret-value" not in mine.text


async def test_cancelling_an_export_whose_workflow_never_started(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    org = user.orgs[0]
    async with app.state.sessionmaker() as session:
        export = Export(organization_id=uuid.UUID(org), owner_id=uuid.UUID(user.id), shot_ids=[])
        session.add(export)
        await session.commit()
    path = f"/exports/{export.id}"
    r = await api.post(f"{path}/cancel", as_=user, params={"organization_id": org})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    r = await api.post(f"{path}/cancel", as_=user, params={"organization_id": org})
    assert r.status_code == 409
