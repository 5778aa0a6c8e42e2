"""Subjects: CRUD, base images, filters, public subjects, tenancy."""

from __future__ import annotations

import uuid

from tests.helpers import Api, UserHandle

IMAGE = {"image_url": "https://cdn.example.com/a.jpg", "shot_type_label": "Front"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_create_and_read_subject_with_base_images(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    body = {"name": "Ada", "age_class": "Young", "base_images": [IMAGE]}
    created = await api.create("/subjects/", body, as_=user, org=org)
    assert created["organization_id"] == org and created["owner_id"] == user.id
    assert created["subject_type"] == "AI" and created["is_public"] is False
    assert created["base_images"] == [{**IMAGE, "shot_type_id": None}]

    r = await api.get(f"/subjects/{created['id']}", as_=user, params={"organization_id": org})
    assert r.status_code == 200 and r.json()["base_images"][0]["image_url"] == IMAGE["image_url"]


async def test_read_subject_of_organization_in_personal_scope_is_not_found(
    api: Api, user: UserHandle
) -> None:
    created = await api.create("/subjects/", {"name": "Org only"}, as_=user, org=user.orgs[0])
    assert (await api.get(f"/subjects/{created['id']}", as_=user)).status_code == 404


async def test_read_subject_of_other_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/subjects/", {"name": "Private"}, as_=user, org=user.orgs[0])
    for params in ({"organization_id": user.orgs[0]}, {"organization_id": other_user.orgs[0]}):
        r = await api.get(f"/subjects/{created['id']}", as_=other_user, params=params)
        assert r.status_code == 404


async def test_list_subjects_filters_count_and_pagination(api: Api, user: UserHandle) -> None:
    org = {"organization_id": user.orgs[0]}
    for i in range(3):
        body = {"name": f"Kid {i}", "age_class": "Kid", "body_type": "Slim"}
        await api.create("/subjects/", body, as_=user, org=user.orgs[0])
    body = {"name": "Elder", "age_class": "Elder", "body_type": "Curvy", "base_images": [IMAGE]}
    await api.create("/subjects/", body, as_=user, org=user.orgs[0])

    r = await api.get("/subjects/", as_=user, params={**org, "age_class": "Kid", "limit": 2})
    assert r.json()["count"] == 3 and len(r.json()["data"]) == 2
    r = await api.get("/subjects/", as_=user, params={**org, "age_class": "Kid", "skip": 2})
    assert len(r.json()["data"]) == 1
    r = await api.get("/subjects/", as_=user, params={**org, "body_type": "Curvy"})
    assert [s["name"] for s in r.json()["data"]] == ["Elder"]
    r = await api.get("/subjects/", as_=user, params={**org, "only_with_base_images": True})
    assert [s["name"] for s in r.json()["data"]] == ["Elder"]
    r = await api.get("/subjects/", as_=user, params={**org, "search": "kid 1"})
    assert [s["name"] for s in r.json()["data"]] == ["Kid 1"]
    r = await api.get("/subjects/", as_=user, params=org)
    assert r.json()["count"] == 4


async def test_list_subjects_with_unknown_age_class_is_rejected(api: Api, user: UserHandle) -> None:
    r = await api.get("/subjects/", as_=user, params={"age_class": "Baby"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "age_class"]


async def test_list_subjects_include_public_shows_public_subjects_of_others(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    # Only superusers publish subjects (tests/security/test_subject_publishing.py).
    name = unique("Public")
    await api.create("/subjects/", {"name": name, "is_public": True}, as_=superuser)
    await api.create("/subjects/", {"name": f"{name} hidden"}, as_=superuser)

    r = await api.get("/subjects/", as_=user, params={"search": name})
    assert r.json()["count"] == 0
    r = await api.get("/subjects/", as_=user, params={"search": name, "include_public": True})
    assert [s["name"] for s in r.json()["data"]] == [name]


async def test_read_public_subject_of_other_user(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    body = {"name": unique("Star"), "is_public": True}
    created = await api.create("/subjects/", body, as_=superuser)
    r = await api.get(f"/subjects/{created['id']}", as_=user)
    assert r.status_code == 200 and r.json()["is_public"] is True


async def test_update_and_delete_public_subject_of_other_user_is_not_found(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    created = await api.create("/subjects/", {"name": "Mine", "is_public": True}, as_=superuser)
    r = await api.patch(f"/subjects/{created['id']}", as_=user, json={"name": "Hijack"})
    assert r.status_code == 404
    assert (await api.delete(f"/subjects/{created['id']}", as_=user)).status_code == 404
    r = await api.get(f"/subjects/{created['id']}", as_=superuser)
    assert r.json()["name"] == "Mine"


async def test_update_subject_replaces_base_images(api: Api, user: UserHandle) -> None:
    created = await api.create("/subjects/", {"name": "Bo", "base_images": [IMAGE]}, as_=user)
    path = f"/subjects/{created['id']}"
    r = await api.patch(path, as_=user, json={"surname": "Smith"})
    assert r.status_code == 200
    assert r.json()["surname"] == "Smith" and len(r.json()["base_images"]) == 1
    second = {"image_url": "https://cdn.example.com/b.jpg", "shot_type_id": "st-1"}
    r = await api.patch(path, as_=user, json={"base_images": [second, IMAGE]})
    assert [i["image_url"] for i in r.json()["base_images"]] == [
        second["image_url"],
        IMAGE["image_url"],
    ]
    r = await api.patch(path, as_=user, json={"base_images": []})
    assert r.json()["base_images"] == []


async def test_delete_subject(api: Api, user: UserHandle) -> None:
    created = await api.create("/subjects/", {"name": "Gone"}, as_=user)
    assert (await api.delete(f"/subjects/{created['id']}", as_=user)).status_code == 204
    assert (await api.get(f"/subjects/{created['id']}", as_=user)).status_code == 404


async def test_create_subject_with_invalid_fields_is_rejected(api: Api, user: UserHandle) -> None:
    r = await api.post("/subjects/", as_=user, json={"name": "X", "gender": "Robot"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "gender"]
    r = await api.post("/subjects/", as_=user, json={"name": "X", "base_images": [{}]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "image_url"


async def test_update_subject_with_null_name_is_rejected(api: Api, user: UserHandle) -> None:
    created = await api.create("/subjects/", {"name": "Named"}, as_=user)
    r = await api.patch(f"/subjects/{created['id']}", as_=user, json={"name": None})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]
