"""The parts a compute request is built from (services/compute_request.py): plain frozen
dataclasses with ids as strings, so the builder is a pure function and its tests need
nothing but these. services/compute_request_load.py fills them from the database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageRef:
    """One image of a component: a storage key (presigned at submission) or, from a legacy
    URL column, the URL as stored."""

    key: str | None = None
    url: str | None = None
    slot: str | None = None
    shot_type_id: str | None = None  # subject base images: the shot type it is for


@dataclass(frozen=True)
class ProductPart:
    id: str
    name: str
    description: str | None = None
    sku: str | None = None
    product_family: str | None = None
    product_type: str | None = None
    images: tuple[ImageRef, ...] = ()  # every slot, the cover image first


@dataclass(frozen=True)
class OutfitPart:
    id: str
    name: str | None = None
    products: tuple[ProductPart, ...] = ()
    reference_urls: tuple[str, ...] = ()
    instruction: str | None = None


@dataclass(frozen=True)
class SubjectPart:
    id: str
    name: str
    # surname, description, subject_type, gender, age_class, body_type, eye/hair colour
    fields: Mapping[str, str | None] = field(default_factory=dict)
    base_images: tuple[ImageRef, ...] = ()  # every one; `build` picks the shot type's


@dataclass(frozen=True)
class StylePart:
    id: str
    name: str
    description: str | None = None
    prompt: str | None = None
    images: tuple[ImageRef, ...] = ()


@dataclass(frozen=True)
class ShotTypePart:
    id: str
    name: str
    description: str | None = None
    prompt: str | None = None
    framing: str | None = None
    view_angle: str | None = None


@dataclass(frozen=True)
class BackgroundPart:
    id: str
    name: str
    description: str | None = None
    prompt: str | None = None
    color: str | None = None


@dataclass(frozen=True)
class PosePart:
    id: str
    name: str
    prompt: str | None = None


@dataclass(frozen=True)
class RulePart:
    id: str
    kind: str
    value: str
    shot_type_id: str | None = None  # None: the rule applies to every shot type


@dataclass(frozen=True)
class GuidelinePart:
    id: str
    name: str
    file_format: str | None = None
    size: tuple[int, int] | None = None  # from its resolution preset
    background: BackgroundPart | None = None
    set_design: str | None = None
    poses: tuple[PosePart, ...] = ()
    rules: tuple[RulePart, ...] = ()


@dataclass(frozen=True)
class ModelPart:
    id: str | None  # None: a model name only (an old generation whose model is gone)
    name: str
    provider: str | None = None
    fallback_provider: str | None = None
    default_width: int | None = None
    default_height: int | None = None
    default_format: str | None = None
    default_negative_prompt: str | None = None
    # Sampler settings for the provider (num_inference_steps, guidance_scale), as given.
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputPart:
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class LookOutput:
    """The look's own output settings (its custom size wins over its resolution preset)."""

    width: int | None = None
    height: int | None = None
    preset_size: tuple[int, int] | None = None
    file_format: str | None = None


@dataclass(frozen=True)
class SourcePart:
    """The image a strategy with a source works on: its media's storage key, and the
    prediction it was named by (if it was)."""

    key: str
    media_id: str
    prediction_id: str | None = None


@dataclass(frozen=True)
class RequestParts:
    """Everything `build` reads: the generation's components and its request."""

    strategy: str
    output: OutputPart
    shot_type: ShotTypePart | None = None
    main_product: ProductPart | None = None
    second_product: ProductPart | None = None
    outfit: OutfitPart | None = None
    subject: SubjectPart | None = None
    style: StylePart | None = None
    background: BackgroundPart | None = None  # the look's own
    guidelines: tuple[GuidelinePart, ...] = ()  # the look's, by position
    default_guideline: GuidelinePart | None = None  # the shooting's
    model: ModelPart | None = None
    prompt: str | None = None  # the request's own prompt replaces the composed one
    negative_prompt: str | None = None
    seed: int | None = None
    source: SourcePart | None = None  # EDITING, REFINE and the fixes
    upscale: int | None = None  # REFINE's factor
