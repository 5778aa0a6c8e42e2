"""What the simulator reads from a generation task's `inputs` (services/compute_request.py
builds them): the reference images to fetch and the facts its render shows, so a person
sees in the output that the inputs arrived. Tolerant by design: a field of the wrong shape
is ignored, never an error (a real model would ignore it too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import ImageColor

# The components whose images are references, in the order they are pasted.
IMAGE_COMPONENTS = ("main_product", "second_product", "subject", "style")
IMAGE_LISTS = ("images", "base_images")


@dataclass(frozen=True)
class Scene:
    """What the render shows besides the prompt (every field optional)."""

    background_name: str | None = None
    background_colour: tuple[int, int, int] | None = None
    background_label: str | None = None  # the colour as given, e.g. "#F2EEE8" or "ivory"
    outfit_items: tuple[str, ...] = ()
    reference_count: int = 0
    pose: str | None = None


def _urls(component: Any) -> Iterator[str]:
    if not isinstance(component, Mapping):
        return
    for name in IMAGE_LISTS:
        images = component.get(name)
        if isinstance(images, list):
            for image in images:
                if isinstance(image, Mapping) and isinstance(image.get("url"), str):
                    yield image["url"]


def reference_urls(inputs: Mapping[str, Any]) -> list[str]:
    """Every reference image URL, each once: the flat `input_image_urls`/`input_image_url`
    of older requests, then the components' images, the outfit's products' images and the
    outfit's reference URLs."""
    urls: list[str] = []
    many = inputs.get("input_image_urls")
    if isinstance(many, list):
        urls.extend(u for u in many if isinstance(u, str))
    one = inputs.get("input_image_url")
    if isinstance(one, str):
        urls.append(one)
    for name in IMAGE_COMPONENTS:
        urls.extend(_urls(inputs.get(name)))
    outfit = inputs.get("outfit")
    if isinstance(outfit, Mapping):
        products = outfit.get("products")
        for product in products if isinstance(products, list) else []:
            urls.extend(_urls(product))
        given = outfit.get("reference_urls")
        if isinstance(given, list):
            urls.extend(u for u in given if isinstance(u, str))
    return list(dict.fromkeys(urls))


def _colour(value: Any) -> tuple[int, int, int] | None:
    """A CSS colour ("#F2EEE8", "rgb(…)", "ivory") as RGB; None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        return None
    return rgb[0], rgb[1], rgb[2]


def _name(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return value["name"]
    return None


def scene(inputs: Mapping[str, Any]) -> Scene:
    background = inputs.get("background_preset")
    background = background if isinstance(background, Mapping) else {}
    outfit = inputs.get("outfit")
    products = outfit.get("products") if isinstance(outfit, Mapping) else None
    items = [name for p in products or [] if (name := _name(p))]
    poses = inputs.get("pose_presets")
    pose = _name(poses[0]) if isinstance(poses, list) and poses else None
    colour = background.get("color")
    return Scene(
        background_name=_name(background),
        background_colour=_colour(colour),
        background_label=colour if isinstance(colour, str) and colour else None,
        outfit_items=tuple(items),
        reference_count=len(reference_urls(inputs)),
        pose=pose,
    )


# The strategies that work on `source_image` (services/generation_source.py).
SOURCE_STRATEGIES = frozenset(
    {"EDITING", "REFINE", "BACKGROUND_FIXING", "FACE_FIXING", "IMAGE_ADJUSTING"}
)


def source_url(inputs: Mapping[str, Any]) -> str | None:
    """The presigned URL of the image a strategy with a source works on, if any."""
    source = inputs.get("source_image")
    if isinstance(source, Mapping) and isinstance(source.get("url"), str):
        return source["url"]
    return None


def strategy(inputs: Mapping[str, Any]) -> str:
    value = inputs.get("strategy")
    return value if isinstance(value, str) else "GENERATE"
