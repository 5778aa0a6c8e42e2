"""What a generation asks the Compute Server for: the task's `inputs`, built from a shot, its
look and the generation request by one pure function (DESIGN §6, docs/compute-request.md).

`build(parts)` takes plain dataclasses (services/compute_request_load.py reads them from the
database) and answers a JSON-ready dict; nothing here touches a session, a client or a clock,
so the same parts give the same inputs, and the unit tests need no services.

Every look component is in `inputs` under its own key, with its id: `main_product`,
`second_product`, `outfit`, `subject`, `style`, `shot_type`, `background_preset`,
`pose_presets`, `rules`, `set_design`, `guidelines`, `output` and `model`; for a strategy
with a source image, `source_image` (`{"prediction_id"|"media_id", "key"}`) and, for
REFINE, `upscale` (the output is already the source's size times it). An absent
component is absent (its key omitted), never a default string, and so is an empty field
inside one. Images are `{"slot", "key"}` with a storage key of our bucket (`{"url"}` for the
legacy URL columns); the activity presigns every key into a URL at submission
(`with_urls`), so what the generation stores (`compute_inputs`) has keys, never URLs that
expire.

Precedence where several places can set the same thing (background, output size and format,
pose presets, set design, shot-type rules):

1. the look's own setting;
2. the look's guidelines, first by position (the order the look lists them);
3. the shooting's default guidelines;
4. the generation model's defaults (output size and format only);
5. for the output only, the system default (1024x1024 JPEG): Compute needs a size.

The output is resolved once, when the generation is created (`resolve_output`, stored in its
`config.output`), so a retry renders the size the user was shown; `build` copies it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from services.compute_request_parts import (
    BackgroundPart,
    GuidelinePart,
    ImageRef,
    LookOutput,
    ModelPart,
    OutfitPart,
    OutputPart,
    ProductPart,
    RequestParts,
    RulePart,
    SubjectPart,
)

T = TypeVar("T")
Json = dict[str, Any]
DEFAULT_OUTPUT = (1024, 1024, "jpg")


def _present(values: Mapping[str, Any]) -> Json:
    """Only the fields with a value: an empty one is absent, like an absent component."""
    return {k: v for k, v in values.items() if v is not None and v != [] and v != ""}


def _first(values: Iterable[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


def sources(
    guidelines: Sequence[GuidelinePart], default: GuidelinePart | None
) -> list[GuidelinePart]:
    """The guidelines in precedence order: the look's by position, then the shooting's
    default (once, even when the look lists it too)."""
    found = list(guidelines)
    if default is not None and all(g.id != default.id for g in found):
        found.append(default)
    return found


def resolve_output(
    look: LookOutput, guidelines: Sequence[GuidelinePart], model: ModelPart | None
) -> OutputPart:
    """Width, height and format by the module's precedence; each of size and format is
    taken whole from the first place that sets it (a width never pairs with another's height)."""
    custom = (look.width, look.height) if look.width and look.height else None
    model_size = (
        (model.default_width, model.default_height)
        if model and model.default_width and model.default_height
        else None
    )
    width, height = (
        _first([custom, look.preset_size, *(g.size for g in guidelines), model_size])
        or DEFAULT_OUTPUT[:2]
    )
    fmt = _first(
        [
            look.file_format,
            *(g.file_format for g in guidelines),
            model.default_format if model else None,
        ]
    )
    return OutputPart(width=width, height=height, format=fmt or DEFAULT_OUTPUT[2])


def applicable_rules(guidelines: Sequence[GuidelinePart], shot_type_id: str | None) -> list[Json]:
    """The shot-type rules for this shot type. Per rule kind, the first guideline (in
    precedence order) with a rule of that kind for it wins; within that guideline, rules
    naming the shot type replace its general ones (no shot type) of the same kind."""
    taken: dict[str, list[Json]] = {}
    for guideline in guidelines:
        kinds: dict[str, tuple[list[RulePart], list[RulePart]]] = {}
        for rule in guideline.rules:
            if rule.shot_type_id is not None and rule.shot_type_id != shot_type_id:
                continue
            specific, general = kinds.setdefault(rule.kind, ([], []))
            (specific if rule.shot_type_id is not None else general).append(rule)
        for kind, (specific, general) in kinds.items():
            if kind not in taken:
                taken[kind] = [
                    _present(
                        {
                            "id": r.id,
                            "guideline_id": guideline.id,
                            "kind": r.kind,
                            "value": r.value,
                            "shot_type_id": r.shot_type_id,
                        }
                    )
                    for r in (specific or general)
                ]
    return [rule for rules in taken.values() for rule in rules]


def _image(image: ImageRef) -> Json:
    return _present(
        {"slot": image.slot, "shot_type_id": image.shot_type_id, "key": image.key, "url": image.url}
    )


def _product(product: ProductPart) -> Json:
    return _present(
        {
            "id": product.id,
            "name": product.name,
            "description": product.description,
            "sku": product.sku,
            "product_family": product.product_family,
            "product_type": product.product_type,
            "images": [_image(i) for i in product.images],
        }
    )


def _outfit(outfit: OutfitPart | None) -> Json | None:
    if outfit is None or not (outfit.products or outfit.reference_urls or outfit.instruction):
        return None
    return _present(
        {
            "id": outfit.id,
            "name": outfit.name,
            "products": [_product(p) for p in outfit.products],
            "reference_urls": list(outfit.reference_urls),
            "instruction": outfit.instruction,
        }
    )


def _subject(subject: SubjectPart, shot_type_id: str | None) -> Json:
    # The base images made for this shot type when there are any, else the whole pack.
    marked = tuple(
        i for i in subject.base_images if shot_type_id and i.shot_type_id == shot_type_id
    )
    return _present(
        {
            "id": subject.id,
            "name": subject.name,
            **subject.fields,
            "base_images": [_image(i) for i in marked or subject.base_images],
        }
    )


def _inherited(guidelines: Sequence[GuidelinePart], pick: Callable[[GuidelinePart], Any]) -> Any:
    """(value, guideline id) from the first guideline where `pick` finds something."""
    for guideline in guidelines:
        value = pick(guideline)
        if value:
            return value, guideline.id
    return None, None


def build(parts: RequestParts) -> Json:
    """The task's `inputs` (see the module docstring for its keys and precedence)."""
    ordered = sources(parts.guidelines, parts.default_guideline)
    shot_type_id = parts.shot_type.id if parts.shot_type else None
    inputs: Json = {"strategy": parts.strategy}
    if (source := parts.source) is not None:
        # The prediction's id when it named the source, else the media's: one id, one key.
        named = (
            {"prediction_id": source.prediction_id}
            if source.prediction_id
            else {"media_id": source.media_id}
        )
        inputs["source_image"] = {**named, "key": source.key}
    if parts.upscale is not None:
        inputs["upscale"] = parts.upscale
    for key, product in (
        ("main_product", parts.main_product),
        ("second_product", parts.second_product),
    ):
        if product is not None:
            inputs[key] = _product(product)
    if (outfit := _outfit(parts.outfit)) is not None:
        inputs["outfit"] = outfit
    if parts.subject is not None:
        inputs["subject"] = _subject(parts.subject, shot_type_id)
    if (style := parts.style) is not None:
        inputs["style"] = _present(
            {
                "id": style.id,
                "name": style.name,
                "description": style.description,
                "prompt": style.prompt,
                "images": [_image(i) for i in style.images],
            }
        )
    if (shot := parts.shot_type) is not None:
        inputs["shot_type"] = _present(
            {
                "id": shot.id,
                "name": shot.name,
                "description": shot.description,
                "framing": shot.framing,
                "view_angle": shot.view_angle,
                "prompt": shot.prompt,
            }
        )
    background, from_guideline = (
        (parts.background, None)
        if parts.background is not None
        else _inherited(ordered, lambda g: g.background)
    )
    if background is not None:
        inputs["background_preset"] = _present(
            {**_background(background), "guideline_id": from_guideline}
        )
    poses, from_guideline = _inherited(ordered, lambda g: g.poses)
    if poses:
        inputs["pose_presets"] = [
            _present(
                {"id": p.id, "name": p.name, "prompt": p.prompt, "guideline_id": from_guideline}
            )
            for p in poses
        ]
    if rules := applicable_rules(ordered, shot_type_id):
        inputs["rules"] = rules
    set_design, from_guideline = _inherited(ordered, lambda g: g.set_design)
    if set_design:
        inputs["set_design"] = {"guideline_id": from_guideline, "description": set_design}
    if ordered:
        default_id = parts.default_guideline.id if parts.default_guideline else None
        inputs["guidelines"] = [
            _present({"id": g.id, "name": g.name, "shooting_default": g.id == default_id or None})
            for g in ordered
        ]
    output = parts.output
    inputs["output"] = {"width": output.width, "height": output.height, "format": output.format}
    if (model := parts.model) is not None:
        inputs["model"] = _present(
            {
                "id": model.id,
                "name": model.name,
                "provider": model.provider,
                "fallback_provider": model.fallback_provider,
            }
        )
        inputs.update(_present(dict(model.parameters)))
    negative = parts.negative_prompt or (model.default_negative_prompt if model else None)
    return _present(
        {
            **inputs,
            "prompt": parts.prompt or compose_prompt(inputs),
            "negative_prompt": negative,
            "seed": parts.seed,
        }
    )


def _background(background: BackgroundPart) -> Json:
    return {
        "id": background.id,
        "name": background.name,
        "description": background.description,
        "prompt": background.prompt,
        "color": background.color,
    }


def _described(entry: Mapping[str, Any]) -> str:
    described = f": {entry['description']}" if entry.get("description") else ""
    return f"{entry['name']}{described}"


def compose_prompt(inputs: Mapping[str, Any]) -> str:
    """A prompt from the components present (Compute needs one; the structured fields carry
    the same facts for a model that reads them)."""
    parts: list[str] = []
    if product := inputs.get("main_product"):
        parts.append(_described(product))
    if product := inputs.get("second_product"):
        parts.append(f"with {_described(product)}")
    if outfit := inputs.get("outfit"):
        if outfit.get("products"):
            parts.append("outfit: " + ", ".join(p["name"] for p in outfit["products"]))
        if outfit.get("instruction"):
            parts.append(f"styling: {outfit['instruction']}")
    if subject := inputs.get("subject"):
        traits = [subject.get(k) for k in ("gender", "age_class", "body_type")]
        shown = ", ".join(t for t in traits if t)
        parts.append(f"worn by: {subject['name']}" + (f" ({shown})" if shown else ""))
    for key, label in (
        ("style", "style"),
        ("shot_type", "shot"),
        ("background_preset", "background"),
    ):
        if entry := inputs.get(key):
            parts.append(f"{label}: {entry.get('prompt') or entry['name']}")
    if poses := inputs.get("pose_presets"):
        parts.append("pose: " + " | ".join(p.get("prompt") or p["name"] for p in poses))
    if set_design := inputs.get("set_design"):
        parts.append(f"set: {set_design['description']}")
    for rule in inputs.get("rules", []):
        parts.append(f"{rule['kind'].lower()}: {rule['value']}")
    return "; ".join(parts)


def with_urls(inputs: Mapping[str, Any], sign: Callable[[str], str]) -> Json:
    """The inputs as sent: every image's storage key replaced by a presigned URL (Compute
    fetches references itself). Inputs planned before the structured request carry a flat
    `input_image_keys`, presigned into `input_image_urls` as then."""

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            if isinstance(value.get("key"), str):
                signed = {k: walk(v) for k, v in value.items() if k != "key"}
                return {**signed, "url": sign(value["key"])}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    sent: Json = walk({k: v for k, v in inputs.items() if k != "input_image_keys"})
    if keys := inputs.get("input_image_keys"):
        sent["input_image_urls"] = [sign(key) for key in keys]
    return sent
