"""Guidelines: CRUD with subjects and pose presets, shot-type rules (flat, grouped, replace)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import Api, UserHandle

POSES = [{"name": "Hands on hips", "prompt": "hands on hips"}, {"name": "Walking"}]


async def _guideline(api: Api, user: UserHandle, **fields: Any) -> dict[str, Any]:
    return await api.create("/guidelines/", {"name": "Spec", **fields}, as_=user)


async def _shot_type(api: Api, user: UserHandle, name: str = "Front") -> str:
    return (await api.create("/shot-types/", {"name": name}, as_=user))["id"]


async def test_create_and_read_guideline_with_subjects_and_poses(
    api: Api, user: UserHandle
) -> None:
    org = user.orgs[0]
    subjects = [
        (await api.create("/subjects/", {"name": f"S{i}"}, as_=user, org=org))["id"]
        for i in range(2)
    ]
    res = await api.create(
        "/resolution-presets/", {"name": "R", "width": 800, "height": 1000}, as_=user, org=org
    )
    body = {
        "name": "E-commerce",
        "file_format": "png",
        "resolution_preset_id": res["id"],
        "subject_ids": [*subjects, subjects[0]],
        "pose_presets": POSES,
    }
    created = await api.create("/guidelines/", body, as_=user, org=org)
    assert created["organization_id"] == org and created["file_format"] == "png"
    assert sorted(created["subject_ids"]) == sorted(subjects)
    assert [p["name"] for p in created["pose_presets"]] == ["Hands on hips", "Walking"]

    r = await api.get(f"/guidelines/{created['id']}", as_=user, params={"organization_id": org})
    assert r.status_code == 200 and r.json() == created


async def test_create_guideline_with_foreign_subject_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    foreign = (await api.create("/subjects/", {"name": "Theirs"}, as_=other_user))["id"]
    r = await api.post("/guidelines/", as_=user, json={"name": "G", "subject_ids": [foreign]})
    assert r.status_code == 404 and foreign in r.json()["detail"]
    assert (await api.get("/guidelines/", as_=user)).json()["count"] == 0


async def test_create_guideline_with_public_subject_and_system_preset(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    # A public subject: only superusers publish one.
    public = await api.create("/subjects/", {"name": "Pub", "is_public": True}, as_=superuser)
    r = await api.post(
        "/background-presets/", as_=superuser, params={"system": True}, json={"name": "Sys bg"}
    )
    created = await _guideline(
        api, user, subject_ids=[public["id"]], background_preset_id=r.json()["id"]
    )
    assert created["subject_ids"] == [public["id"]]


async def test_create_guideline_with_foreign_preset_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    res = await api.create(
        "/resolution-presets/", {"name": "R", "width": 64, "height": 64}, as_=other_user
    )
    r = await api.post(
        "/guidelines/", as_=user, json={"name": "G", "resolution_preset_id": res["id"]}
    )
    assert r.status_code == 404 and res["id"] in r.json()["detail"]


async def test_read_guideline_of_other_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/guidelines/", {"name": "G"}, as_=user, org=user.orgs[0])
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        r = await api.get(f"/guidelines/{created['id']}", as_=other_user, params=params)
        assert r.status_code == 404
    r = await api.get("/guidelines/", as_=other_user, params={"organization_id": user.orgs[0]})
    assert r.status_code == 404
    assert (await api.get(f"/guidelines/{created['id']}", as_=user)).status_code == 404


async def test_list_guidelines_search_count_and_pagination(api: Api, user: UserHandle) -> None:
    for i in range(3):
        await _guideline(api, user, name=f"Catalog {i}", pose_presets=POSES[:1])
    await _guideline(api, user, name="Lookbook")
    r = await api.get("/guidelines/", as_=user, params={"search": "catalog", "limit": 2})
    body = r.json()
    assert body["count"] == 3 and len(body["data"]) == 2
    assert all(len(g["pose_presets"]) == 1 for g in body["data"])
    r = await api.get("/guidelines/", as_=user, params={"skip": 3})
    assert len(r.json()["data"]) == 1 and r.json()["count"] == 4


async def test_update_guideline_replaces_lists(api: Api, user: UserHandle) -> None:
    s1 = (await api.create("/subjects/", {"name": "A"}, as_=user))["id"]
    s2 = (await api.create("/subjects/", {"name": "B"}, as_=user))["id"]
    created = await _guideline(api, user, subject_ids=[s1], pose_presets=POSES)
    path = f"/guidelines/{created['id']}"

    r = await api.patch(path, as_=user, json={"description": "v2"})
    assert r.status_code == 200
    assert r.json()["subject_ids"] == [s1] and len(r.json()["pose_presets"]) == 2
    r = await api.patch(path, as_=user, json={"subject_ids": [s2], "pose_presets": [POSES[1]]})
    assert r.json()["subject_ids"] == [s2]
    assert [p["name"] for p in r.json()["pose_presets"]] == ["Walking"]
    r = await api.patch(path, as_=user, json={"subject_ids": [], "pose_presets": []})
    assert r.json()["subject_ids"] == [] and r.json()["pose_presets"] == []
    assert r.json()["description"] == "v2"


async def test_update_guideline_with_unknown_subject_is_not_found(
    api: Api, user: UserHandle
) -> None:
    created = await _guideline(api, user)
    missing = str(uuid.uuid4())
    r = await api.patch(
        f"/guidelines/{created['id']}", as_=user, json={"name": "X", "subject_ids": [missing]}
    )
    assert r.status_code == 404 and missing in r.json()["detail"]
    assert (await api.get(f"/guidelines/{created['id']}", as_=user)).json()["name"] == "Spec"


async def test_delete_guideline(api: Api, user: UserHandle) -> None:
    created = await _guideline(api, user, pose_presets=POSES)
    await api.create(
        f"/guidelines/{created['id']}/shot-type-rules/",
        {"rule_kind": "PLACEMENT", "rule_value": "center"},
        as_=user,
    )
    assert (await api.delete(f"/guidelines/{created['id']}", as_=user)).status_code == 204
    assert (await api.get(f"/guidelines/{created['id']}", as_=user)).status_code == 404
    r = await api.get(f"/guidelines/{created['id']}/shot-type-rules/", as_=user)
    assert r.status_code == 404


async def test_create_guideline_with_invalid_file_format_is_rejected(
    api: Api, user: UserHandle
) -> None:
    r = await api.post("/guidelines/", as_=user, json={"name": "G", "file_format": "gif"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file_format"]
    r = await api.post("/guidelines/", as_=user, json={"name": "G", "pose_presets": [{}]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "name"


async def test_add_and_list_shot_type_rules(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    shot_type = await _shot_type(api, user)
    path = f"/guidelines/{guideline['id']}/shot-type-rules/"
    rule = await api.create(
        path,
        {"rule_kind": "PLACEMENT", "rule_value": "center", "shot_type_id": shot_type},
        as_=user,
    )
    assert rule["guidelines_id"] == guideline["id"] and rule["shot_type_id"] == shot_type
    await api.create(path, {"rule_kind": "LIGHTING", "rule_value": "soft"}, as_=user)

    r = await api.get(path, as_=user)
    body = r.json()
    assert body["count"] == 2 and [x["rule_kind"] for x in body["data"]] == [
        "PLACEMENT",
        "LIGHTING",
    ]
    r = await api.get(path, as_=user, params={"skip": 1, "limit": 1})
    assert [x["rule_value"] for x in r.json()["data"]] == ["soft"]


async def test_add_shot_type_rule_with_public_shot_type(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    public = await api.create(
        "/shot-types/", {"name": "Pub rule", "visibility": "public"}, as_=superuser
    )
    guideline = await _guideline(api, user)
    rule = await api.create(
        f"/guidelines/{guideline['id']}/shot-type-rules/",
        {"rule_kind": "PLACEMENT", "rule_value": "left", "shot_type_id": public["id"]},
        as_=user,
    )
    assert rule["shot_type_id"] == public["id"]


async def test_add_shot_type_rule_with_foreign_shot_type_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    guideline = await _guideline(api, user)
    foreign = await _shot_type(api, other_user)
    r = await api.post(
        f"/guidelines/{guideline['id']}/shot-type-rules/",
        as_=user,
        json={"rule_kind": "PLACEMENT", "rule_value": "x", "shot_type_id": foreign},
    )
    assert r.status_code == 404 and foreign in r.json()["detail"]


async def test_add_shot_type_rule_without_kind_is_rejected(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    r = await api.post(
        f"/guidelines/{guideline['id']}/shot-type-rules/", as_=user, json={"rule_value": "x"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rule_kind"]


async def test_shot_type_rules_of_other_organization_are_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    guideline = await api.create("/guidelines/", {"name": "G"}, as_=user, org=user.orgs[0])
    rule = await api.create(
        f"/guidelines/{guideline['id']}/shot-type-rules/",
        {"rule_kind": "PLACEMENT", "rule_value": "x"},
        as_=user,
        org=user.orgs[0],
    )
    base = f"/guidelines/{guideline['id']}/shot-type-rules"
    params = {"organization_id": other_user.orgs[0]}
    assert (await api.get(f"{base}/", as_=other_user, params=params)).status_code == 404
    assert (await api.get(f"{base}/grouped", as_=other_user, params=params)).status_code == 404
    r = await api.post(
        f"{base}/", as_=other_user, params=params, json={"rule_kind": "K", "rule_value": "v"}
    )
    assert r.status_code == 404
    r = await api.put(f"{base}/bulk-replace", as_=other_user, params=params, json={"rules": []})
    assert r.status_code == 404
    r = await api.delete(f"{base}/{rule['id']}", as_=other_user, params=params)
    assert r.status_code == 404


async def test_group_shot_type_rules_by_shot_type_then_kind(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    front, back = await _shot_type(api, user, "Front"), await _shot_type(api, user, "Back")
    rules = [
        {"rule_kind": "PLACEMENT", "rule_value": "center", "shot_type_id": front},
        {"rule_kind": "PLACEMENT", "rule_value": "left", "shot_type_id": front},
        {"rule_kind": "LIGHTING", "rule_value": "soft", "shot_type_id": front},
        {"rule_kind": "PLACEMENT", "rule_value": "right", "shot_type_id": back},
        {"rule_kind": "CROP", "rule_value": "tight"},
    ]
    base = f"/guidelines/{guideline['id']}/shot-type-rules"
    r = await api.put(f"{base}/bulk-replace", as_=user, json={"rules": rules})
    assert r.status_code == 200 and r.json()["count"] == 5

    r = await api.get(f"{base}/grouped", as_=user)
    assert r.status_code == 200
    assert r.json() == [
        {"shot_type_id": front, "rules": {"PLACEMENT": ["center", "left"], "LIGHTING": ["soft"]}},
        {"shot_type_id": back, "rules": {"PLACEMENT": ["right"]}},
        {"shot_type_id": None, "rules": {"CROP": ["tight"]}},
    ]


async def test_bulk_replace_shot_type_rules_replaces_the_set(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    base = f"/guidelines/{guideline['id']}/shot-type-rules"
    old = await api.create(f"{base}/", {"rule_kind": "OLD", "rule_value": "1"}, as_=user)
    new = [{"rule_kind": "NEW", "rule_value": str(i)} for i in range(3)]
    r = await api.put(f"{base}/bulk-replace", as_=user, json={"rules": new})
    assert r.status_code == 200
    assert [x["rule_value"] for x in r.json()["data"]] == ["0", "1", "2"]
    listed = (await api.get(f"{base}/", as_=user)).json()
    assert listed["count"] == 3 and old["id"] not in {x["id"] for x in listed["data"]}

    r = await api.put(f"{base}/bulk-replace", as_=user, json={"rules": []})
    assert r.json() == {"data": [], "count": 0}
    assert (await api.get(f"{base}/grouped", as_=user)).json() == []


async def test_bulk_replace_with_unknown_shot_type_keeps_old_rules(
    api: Api, user: UserHandle
) -> None:
    guideline = await _guideline(api, user)
    base = f"/guidelines/{guideline['id']}/shot-type-rules"
    shot_type = await _shot_type(api, user)
    kept = await api.create(
        f"{base}/",
        {"rule_kind": "PLACEMENT", "rule_value": "c", "shot_type_id": shot_type},
        as_=user,
    )
    missing = str(uuid.uuid4())
    rules = [
        {"rule_kind": "PLACEMENT", "rule_value": "ok", "shot_type_id": shot_type},
        {"rule_kind": "PLACEMENT", "rule_value": "bad", "shot_type_id": missing},
    ]
    r = await api.put(f"{base}/bulk-replace", as_=user, json={"rules": rules})
    assert r.status_code == 404 and missing in r.json()["detail"]
    listed = (await api.get(f"{base}/", as_=user)).json()
    assert [x["id"] for x in listed["data"]] == [kept["id"]]


async def test_bulk_replace_with_invalid_rule_is_rejected(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    r = await api.put(
        f"/guidelines/{guideline['id']}/shot-type-rules/bulk-replace",
        as_=user,
        json={"rules": [{"rule_kind": "", "rule_value": "x"}]},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "rules", 0, "rule_kind"]


async def test_delete_shot_type_rule(api: Api, user: UserHandle) -> None:
    guideline = await _guideline(api, user)
    base = f"/guidelines/{guideline['id']}/shot-type-rules"
    rule = await api.create(f"{base}/", {"rule_kind": "K", "rule_value": "v"}, as_=user)
    assert (await api.delete(f"{base}/{rule['id']}", as_=user)).status_code == 204
    assert (await api.get(f"{base}/", as_=user)).json()["count"] == 0
    assert (await api.delete(f"{base}/{rule['id']}", as_=user)).status_code == 404


async def test_delete_shot_type_rule_of_other_guideline_is_not_found(
    api: Api, user: UserHandle
) -> None:
    first, second = await _guideline(api, user), await _guideline(api, user)
    rule = await api.create(
        f"/guidelines/{first['id']}/shot-type-rules/",
        {"rule_kind": "K", "rule_value": "v"},
        as_=user,
    )
    r = await api.delete(f"/guidelines/{second['id']}/shot-type-rules/{rule['id']}", as_=user)
    assert r.status_code == 404
    r = await api.get(f"/guidelines/{first['id']}/shot-type-rules/", as_=user)
    assert r.json()["count"] == 1
