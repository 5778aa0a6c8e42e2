"""The compute request builder, pure: plain dataclasses in, the task's `inputs` out (no
database, no services). services/compute_request.py states the keys and the precedence."""

from __future__ import annotations

from dataclasses import replace

from services import compute_request
from services.compute_request import applicable_rules, build, resolve_output, with_urls
from services.compute_request_parts import (
    BackgroundPart,
    GuidelinePart,
    ImageRef,
    LookOutput,
    ModelPart,
    OutfitPart,
    OutputPart,
    PosePart,
    ProductPart,
    RequestParts,
    RulePart,
    ShotTypePart,
    StylePart,
    SubjectPart,
)

OUTPUT = OutputPart(width=256, height=320, format="png")
SHOT = ShotTypePart(
    id="st-front", name="Front", prompt="front view", framing="Full Body", view_angle="Front"
)
DRESS = ProductPart(
    id="p-dress",
    name="Silk dress",
    description="bias-cut, ivory",
    product_type="dress",
    images=(
        ImageRef(key="media/1/file.jpg", slot="back_image"),
        ImageRef(key="media/2/file.jpg", slot="cover_image"),
    ),
)
STUDIO = BackgroundPart(id="bg-studio", name="Studio ivory", color="#F2EEE8", prompt="seamless")
CONCRETE = BackgroundPart(id="bg-concrete", name="Concrete", color="#777777")


def minimal(**changes: object) -> RequestParts:
    return replace(RequestParts(strategy="GENERATE", output=OUTPUT, shot_type=SHOT), **changes)


def test_absent_components_are_absent_not_defaults() -> None:
    inputs = build(RequestParts(strategy="GENERATE", output=OUTPUT))
    assert inputs == {
        "strategy": "GENERATE",
        "output": {"width": 256, "height": 320, "format": "png"},
    }  # no prompt either: nothing to compose it from


def test_every_component_with_its_id_and_images_as_keys() -> None:
    scarf = ProductPart(id="p-scarf", name="Scarf", images=(ImageRef(key="media/3/file.png"),))
    inputs = build(
        minimal(
            main_product=DRESS,
            second_product=ProductPart(id="p-belt", name="Belt"),
            outfit=OutfitPart(
                id="o-1",
                name="Evening",
                products=(scarf,),
                reference_urls=("https://example.com/look.jpg",),
                instruction="tuck the scarf",
            ),
            subject=SubjectPart(
                id="s-ava", name="Ava", fields={"gender": "Female", "surname": None}
            ),
            style=StylePart(
                id="y-1", name="Editorial", prompt="soft light", images=(ImageRef(key="k/s"),)
            ),
            background=STUDIO,
            model=ModelPart(id="m-1", name="standard", provider="fal_standard"),
            seed=7,
        )
    )
    assert inputs["main_product"] == {
        "id": "p-dress",
        "name": "Silk dress",
        "description": "bias-cut, ivory",
        "product_type": "dress",
        "images": [
            {"slot": "back_image", "key": "media/1/file.jpg"},
            {"slot": "cover_image", "key": "media/2/file.jpg"},
        ],
    }
    assert inputs["second_product"] == {"id": "p-belt", "name": "Belt"}
    assert inputs["outfit"] == {
        "id": "o-1",
        "name": "Evening",
        "products": [{"id": "p-scarf", "name": "Scarf", "images": [{"key": "media/3/file.png"}]}],
        "reference_urls": ["https://example.com/look.jpg"],
        "instruction": "tuck the scarf",
    }
    assert inputs["subject"] == {"id": "s-ava", "name": "Ava", "gender": "Female"}
    assert inputs["style"]["images"] == [{"key": "k/s"}]
    assert inputs["shot_type"] == {
        "id": "st-front",
        "name": "Front",
        "framing": "Full Body",
        "view_angle": "Front",
        "prompt": "front view",
    }
    assert inputs["background_preset"] == {
        "id": "bg-studio",
        "name": "Studio ivory",
        "prompt": "seamless",
        "color": "#F2EEE8",
    }
    assert inputs["model"] == {"id": "m-1", "name": "standard", "provider": "fal_standard"}
    assert inputs["seed"] == 7
    assert "negative_prompt" not in inputs
    prompt = inputs["prompt"]
    for fact in ("Silk dress: bias-cut", "with Belt", "outfit: Scarf", "tuck the scarf"):
        assert fact in prompt
    assert "worn by: Ava (Female)" in prompt and "background: seamless" in prompt


def test_request_prompt_replaces_the_composed_one() -> None:
    assert build(minimal(prompt="only this"))["prompt"] == "only this"
    assert build(minimal())["prompt"] == "shot: front view"


def test_empty_outfit_is_absent() -> None:
    assert "outfit" not in build(minimal(outfit=OutfitPart(id="o-empty", name="Nothing")))


def test_subject_base_images_of_the_shot_type_else_all() -> None:
    pack = (
        ImageRef(url="https://cdn/front.jpg", shot_type_id="st-front"),
        ImageRef(url="https://cdn/back.jpg", shot_type_id="st-back"),
        ImageRef(key="media/9/file.jpg"),
    )
    subject = SubjectPart(id="s", name="Ava", base_images=pack)
    marked = build(minimal(subject=subject))["subject"]["base_images"]
    assert marked == [{"shot_type_id": "st-front", "url": "https://cdn/front.jpg"}]
    other_shot = replace(SHOT, id="st-side")
    every = build(minimal(subject=subject, shot_type=other_shot))["subject"]["base_images"]
    assert len(every) == 3


def test_precedence_look_then_guidelines_by_position_then_shooting_default() -> None:
    first = GuidelinePart(
        id="g-1",
        name="First",
        poses=(PosePart(id="pose-1", name="Hand on hip"),),
    )
    second = GuidelinePart(
        id="g-2",
        name="Second",
        background=CONCRETE,
        set_design="white cube",
        poses=(PosePart(id="pose-2", name="Walking"),),
    )
    default = GuidelinePart(id="g-d", name="House", background=STUDIO, set_design="loft", poses=())
    inputs = build(minimal(guidelines=(first, second), default_guideline=default))
    # The look has no background: the first guideline that has one (by position) gives it.
    assert inputs["background_preset"]["id"] == "bg-concrete"
    assert inputs["background_preset"]["guideline_id"] == "g-2"
    assert inputs["pose_presets"] == [
        {"id": "pose-1", "name": "Hand on hip", "guideline_id": "g-1"}
    ]
    assert inputs["set_design"] == {"guideline_id": "g-2", "description": "white cube"}
    assert inputs["guidelines"] == [
        {"id": "g-1", "name": "First"},
        {"id": "g-2", "name": "Second"},
        {"id": "g-d", "name": "House", "shooting_default": True},
    ]
    # The look's own background wins over every guideline's.
    own = build(minimal(background=STUDIO, guidelines=(second,)))
    assert own["background_preset"]["id"] == "bg-studio"
    assert "guideline_id" not in own["background_preset"]
    # Only the shooting's default: it applies.
    only_default = build(minimal(default_guideline=default))
    assert only_default["background_preset"]["guideline_id"] == "g-d"
    assert only_default["set_design"]["description"] == "loft"
    # A default the look also lists counts once, at the look's position.
    twice = build(minimal(guidelines=(default, first), default_guideline=default))
    assert [g["id"] for g in twice["guidelines"]] == ["g-d", "g-1"]


def test_rules_for_this_shot_type_first_guideline_per_kind() -> None:
    first = GuidelinePart(
        id="g-1",
        name="First",
        rules=(
            RulePart(id="r-1", kind="PLACEMENT", value="centred"),
            RulePart(id="r-2", kind="PLACEMENT", value="left third", shot_type_id="st-front"),
            RulePart(id="r-3", kind="CROP", value="no feet", shot_type_id="st-back"),
        ),
    )
    second = GuidelinePart(
        id="g-2",
        name="Second",
        rules=(
            RulePart(id="r-4", kind="PLACEMENT", value="right third"),
            RulePart(id="r-5", kind="LIGHT", value="hard light"),
        ),
    )
    rules = applicable_rules([first, second], "st-front")
    assert rules == [
        {
            "id": "r-2",
            "guideline_id": "g-1",
            "kind": "PLACEMENT",
            "value": "left third",
            "shot_type_id": "st-front",
        },
        {"id": "r-5", "guideline_id": "g-2", "kind": "LIGHT", "value": "hard light"},
    ]
    # Another shot type: the general rule of the first guideline, not the front one's.
    assert [r["id"] for r in applicable_rules([first, second], "st-side")] == ["r-1", "r-5"]
    inputs = build(minimal(guidelines=(first, second)))
    assert [r["id"] for r in inputs["rules"]] == ["r-2", "r-5"]
    assert "placement: left third" in inputs["prompt"]


def test_output_precedence() -> None:
    model = ModelPart(
        id="m", name="m", default_width=768, default_height=1024, default_format="webp"
    )
    sized = GuidelinePart(id="g-1", name="Sized", size=(1200, 1600), file_format="png")
    unsized = GuidelinePart(id="g-0", name="Unsized")
    assert resolve_output(LookOutput(), [], None) == OutputPart(1024, 1024, "jpg")
    assert resolve_output(LookOutput(), [], model) == OutputPart(768, 1024, "webp")
    assert resolve_output(LookOutput(), [unsized, sized], model) == OutputPart(1200, 1600, "png")
    look = LookOutput(preset_size=(640, 480), file_format="jpg")
    assert resolve_output(look, [sized], model) == OutputPart(640, 480, "jpg")
    custom = LookOutput(width=300, height=400, preset_size=(640, 480))
    assert resolve_output(custom, [sized], model) == OutputPart(300, 400, "png")
    # A width alone is no size: the next place that sets both gives them.
    assert resolve_output(LookOutput(width=300), [], model) == OutputPart(768, 1024, "webp")


def test_model_defaults_fill_the_negative_prompt_and_parameters() -> None:
    model = ModelPart(
        id="m",
        name="m",
        provider="fal_standard",
        fallback_provider="vertex",
        default_negative_prompt="blurry",
        parameters={"num_inference_steps": 30},
    )
    inputs = build(minimal(model=model))
    assert inputs["negative_prompt"] == "blurry"
    assert inputs["num_inference_steps"] == 30
    assert inputs["model"]["fallback_provider"] == "vertex"
    assert build(minimal(model=model, negative_prompt="text"))["negative_prompt"] == "text"


def test_with_urls_presigns_every_key_and_keeps_the_plan_intact() -> None:
    planned = build(
        minimal(
            main_product=DRESS,
            style=StylePart(id="y", name="Y", images=(ImageRef(key="k/style.png"),)),
        )
    )
    sent = with_urls(planned, lambda key: f"https://signed/{key}?sig=1")
    assert sent["main_product"]["images"] == [
        {"slot": "back_image", "url": "https://signed/media/1/file.jpg?sig=1"},
        {"slot": "cover_image", "url": "https://signed/media/2/file.jpg?sig=1"},
    ]
    assert sent["style"]["images"] == [{"url": "https://signed/k/style.png?sig=1"}]
    assert planned["main_product"]["images"][0] == {"slot": "back_image", "key": "media/1/file.jpg"}
    # Plans made before the structured request keep working (a workflow in flight).
    legacy = with_urls({"prompt": "p", "input_image_keys": ["a", "b"]}, lambda k: f"u/{k}")
    assert legacy == {"prompt": "p", "input_image_urls": ["u/a", "u/b"]}


def test_sources_dedupes_the_default() -> None:
    g = GuidelinePart(id="g", name="G")
    assert compute_request.sources([g], g) == [g]
    assert compute_request.sources([], None) == []
