"""Everything a look configures reaches Compute (issue 15): per component, set it on the
look, generate through the real stack (API → Temporal → worker → compute_sim), read the
task's inputs back from compute_sim's GET /tasks/{id}, and find it there; a look without
it sends nothing in its place. GET /generations/{id} shows the same inputs with storage
keys (`compute_inputs`) where Compute got presigned URLs."""

from __future__ import annotations

from typing import Any

from compute_sim import ComputeSimServer
from tests.generation.look_world import (
    UNREACHABLE,
    generate_look,
    image_keys,
    key_of_url,
    png,
    product,
    upload,
)
from tests.helpers import Api, UserHandle

SMALL = {"width": 128, "height": 160}
OPTIONAL = {
    "main_product",
    "second_product",
    "outfit",
    "subject",
    "style",
    "background_preset",
    "pose_presets",
    "rules",
    "set_design",
    "guidelines",
}


def urls_as_keys(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**{k: v for k, v in i.items() if k != "url"}, "key": key_of_url(i["url"])} for i in images
    ]


async def test_a_bare_look_sends_only_its_shot_type_output_and_model(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    got = await generate_look(api, user, sim, SMALL)
    inputs = got["inputs"]
    assert not OPTIONAL & set(inputs), inputs
    assert inputs["shot_type"] == {"id": got["shot_type_id"], "name": "Front"}
    assert inputs["output"] == {"width": 128, "height": 160, "format": "jpg"}
    assert inputs["prompt"] == "shot: Front"  # from the parts present, no filler text
    # Nothing to presign: what was sent is what the generation keeps.
    assert got["generation"]["compute_inputs"] == inputs


async def test_main_and_second_product_with_every_image_slot(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    dress = await product(
        api, user, "Silk dress", ("cover_image", (200, 30, 35)), ("back_image", (20, 30, 200))
    )
    belt = await product(api, user, "Belt", ("cover_image", (15, 15, 15)))
    got = await generate_look(
        api,
        user,
        sim,
        {**SMALL, "main_product_id": dress["id"], "second_product_id": belt["id"]},
    )
    main, second = got["inputs"]["main_product"], got["inputs"]["second_product"]
    assert (main["id"], main["name"], main["product_type"]) == (dress["id"], "Silk dress", "dress")
    assert main["description"] == "Silk dress, described"
    sent = {i["slot"]: key_of_url(i["url"]) for i in main["images"]}
    assert sent == image_keys(dress)  # both slots, as presigned URLs of their keys
    assert second["id"] == belt["id"]
    assert [key_of_url(i["url"]) for i in second["images"]] == [image_keys(belt)["cover_image"]]
    stored = got["generation"]["compute_inputs"]["main_product"]
    assert stored["images"] == urls_as_keys(main["images"])
    assert "url" not in str(stored["images"])


async def test_outfit_products_references_and_instruction(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    scarf = await product(api, user, "Scarf", ("cover_image", (240, 215, 50)))
    outfit = await api.create(
        "/outfits/",
        {
            "name": "Evening",
            "product_ids": [scarf["id"]],
            "reference_urls": [f"{UNREACHABLE}/moodboard.jpg"],
            "styling_instruction": "knot the scarf loosely",
        },
        as_=user,
        org=org,
    )
    got = await generate_look(api, user, sim, {**SMALL, "outfit_id": outfit["id"]})
    sent = got["inputs"]["outfit"]
    assert sent["id"] == outfit["id"]
    assert sent["reference_urls"] == [f"{UNREACHABLE}/moodboard.jpg"]
    assert sent["instruction"] == "knot the scarf loosely"
    (item,) = sent["products"]
    assert (item["id"], item["name"]) == (scarf["id"], "Scarf")
    assert [key_of_url(i["url"]) for i in item["images"]] == [image_keys(scarf)["cover_image"]]
    assert "outfit: Scarf" in got["inputs"]["prompt"]


async def test_subject_fields_and_the_base_images_of_this_shot_type(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    front = await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    side = await api.create("/shot-types/", {"name": "Side"}, as_=user, org=org)
    base_images = [
        {"image_url": f"{UNREACHABLE}/ava-front.jpg", "shot_type_id": front["id"]},
        {"image_url": f"{UNREACHABLE}/ava-back.jpg", "shot_type_id": "another"},
    ]
    subject = await api.create(
        "/subjects/",
        {"name": "Ava", "gender": "Female", "age_class": "Young", "base_images": base_images},
        as_=user,
        org=org,
    )
    got = await generate_look(
        api, user, sim, {**SMALL, "subject_id": subject["id"]}, shot_types=[front["id"]]
    )
    sent = got["inputs"]["subject"]
    assert (sent["id"], sent["name"], sent["gender"], sent["age_class"]) == (
        subject["id"],
        "Ava",
        "Female",
        "Young",
    )
    assert [i["url"] for i in sent["base_images"]] == [f"{UNREACHABLE}/ava-front.jpg"]
    # A shot type none is marked for: the whole pack.
    other = await generate_look(
        api, user, sim, {**SMALL, "subject_id": subject["id"]}, shot_types=[side["id"]]
    )
    assert len(other["inputs"]["subject"]["base_images"]) == 2


async def test_style_prompt_and_reference_images(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    key = await upload(api, user, png((120, 50, 160)))
    style = await api.create(
        "/styles/",
        {
            "name": "Editorial",
            "prompt": "soft window light",
            "images": [{"slot": "ref", "key": key}],
        },
        as_=user,
        org=user.orgs[0],
    )
    got = await generate_look(api, user, sim, {**SMALL, "style_id": style["id"]})
    sent = got["inputs"]["style"]
    assert (sent["id"], sent["prompt"]) == (style["id"], "soft window light")
    assert [key_of_url(i["url"]) for i in sent["images"]] == [image_keys(style)["ref"]]
    assert "style: soft window light" in got["inputs"]["prompt"]


async def test_shot_type_framing_view_angle_and_prompt(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    shot_type = await api.create(
        "/shot-types/",
        {
            "name": "Back full",
            "framing": "Full Body",
            "view_angle": "Back",
            "prompt": "from behind",
        },
        as_=user,
        org=user.orgs[0],
    )
    got = await generate_look(api, user, sim, SMALL, shot_types=[shot_type["id"]])
    assert got["inputs"]["shot_type"] == {
        "id": shot_type["id"],
        "name": "Back full",
        "framing": "Full Body",
        "view_angle": "Back",
        "prompt": "from behind",
    }


async def test_background_preset_of_the_look(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    preset = await api.create(
        "/background-presets/",
        {"name": "Studio ivory", "color": "#F2EEE8", "prompt": "seamless paper"},
        as_=user,
        org=user.orgs[0],
    )
    got = await generate_look(api, user, sim, {**SMALL, "background_preset_id": preset["id"]})
    assert got["inputs"]["background_preset"] == {
        "id": preset["id"],
        "name": "Studio ivory",
        "prompt": "seamless paper",
        "color": "#F2EEE8",
    }


async def test_guideline_poses_rules_set_design_background_and_output(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    front = await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    back = await api.create("/shot-types/", {"name": "Back"}, as_=user, org=org)
    concrete = await api.create(
        "/background-presets/", {"name": "Concrete", "color": "#777777"}, as_=user, org=org
    )
    size = await api.create(
        "/resolution-presets/", {"name": "Small", "width": 192, "height": 128}, as_=user, org=org
    )
    guideline = await api.create(
        "/guidelines/",
        {
            "name": "House rules",
            "file_format": "png",
            "resolution_preset_id": size["id"],
            "background_preset_id": concrete["id"],
            "set_design": "white cube, one plinth",
            "pose_presets": [{"name": "Hand on hip", "prompt": "hand on hip, weight left"}],
        },
        as_=user,
        org=org,
    )
    rules = {}
    for kind, value, shot_type in (
        ("PLACEMENT", "centred", None),
        ("PLACEMENT", "left third", front["id"]),
        ("CROP", "no feet", back["id"]),
    ):
        rules[value] = await api.create(
            f"/guidelines/{guideline['id']}/shot-type-rules/",
            {"rule_kind": kind, "rule_value": value, "shot_type_id": shot_type},
            as_=user,
            org=org,
        )
    got = await generate_look(
        api, user, sim, {"guidelines": [guideline["id"]]}, shot_types=[front["id"]]
    )
    inputs = got["inputs"]
    assert inputs["guidelines"] == [{"id": guideline["id"], "name": "House rules"}]
    assert inputs["background_preset"]["id"] == concrete["id"]
    assert inputs["background_preset"]["guideline_id"] == guideline["id"]
    (pose,) = inputs["pose_presets"]
    assert (pose["name"], pose["guideline_id"]) == ("Hand on hip", guideline["id"])
    assert inputs["set_design"] == {
        "guideline_id": guideline["id"],
        "description": "white cube, one plinth",
    }
    # Only the front shot's rules: its own PLACEMENT replaces the general one; CROP is Back's.
    assert [(r["id"], r["kind"], r["value"]) for r in inputs["rules"]] == [
        (rules["left third"]["id"], "PLACEMENT", "left third")
    ]
    # The look sets no size or format: the guideline's, ahead of the model's defaults.
    assert inputs["output"] == {"width": 192, "height": 128, "format": "png"}
    assert got["generation"]["config"]["output"] == inputs["output"]


async def test_shooting_default_guidelines_apply_after_the_looks(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    studio = await api.create(
        "/background-presets/", {"name": "Studio", "color": "#FFFFFF"}, as_=user, org=org
    )
    concrete = await api.create(
        "/background-presets/", {"name": "Concrete", "color": "#777777"}, as_=user, org=org
    )
    house = await api.create(
        "/guidelines/",
        {"name": "House", "background_preset_id": studio["id"], "set_design": "loft"},
        as_=user,
        org=org,
    )
    look_guideline = await api.create(
        "/guidelines/",
        {"name": "Campaign", "background_preset_id": concrete["id"]},
        as_=user,
        org=org,
    )
    shooting = {"default_guidelines_id": house["id"]}
    only_default = await generate_look(api, user, sim, SMALL, shooting=shooting)
    assert only_default["inputs"]["background_preset"]["id"] == studio["id"]
    assert only_default["inputs"]["guidelines"] == [
        {"id": house["id"], "name": "House", "shooting_default": True}
    ]
    both = await generate_look(
        api, user, sim, {**SMALL, "guidelines": [look_guideline["id"]]}, shooting=shooting
    )
    # The look's guideline wins the background; the default still gives the set design.
    assert both["inputs"]["background_preset"]["id"] == concrete["id"]
    assert both["inputs"]["set_design"]["guideline_id"] == house["id"]


async def test_model_and_its_provider(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    got = await generate_look(api, user, sim, SMALL, request={"model": "sartiq-standard"})
    model = got["inputs"]["model"]
    assert (model["name"], model["provider"]) == ("sartiq-standard", "fal_standard")
    assert model["id"] == got["generation"]["model_id"]
    assert model["fallback_provider"] == "vertex_ai"
