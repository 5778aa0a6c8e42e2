"""The business rules a generation is checked against before anything starts (issue 15):
pure functions of plain facts, no I/O. services/generations.py gathers the facts and
answers 409 with the reason for a single generation; services/batch_plan.py skips a shot
that breaks one and records why (`shooting_generation.skipped_shots`); the rest runs.

The rules (docs/generation_rules.md says the same for people):

1. **Tool type.** The model's `tool_types` must allow the strategy. Each strategy needs one
   of these tool types (`STRATEGY_TOOL_TYPES`):

   | strategy          | tool types accepted                     |
   |-------------------|-----------------------------------------|
   | GENERATE          | BASE_GENERATION                         |
   | EDITING           | IMAGE_EDITING                           |
   | REFINE            | UPSCALING                               |
   | VIDEO             | VIDEO_GENERATION                        |
   | BACKGROUND_FIXING | BACKGROUND_FIXING, IMAGE_EDITING        |
   | FACE_FIXING       | FACE_FIXING, IMAGE_EDITING              |
   | IMAGE_ADJUSTING   | IMAGE_ADJUSTING, IMAGE_EDITING          |

   The three fixes are local edits, which a general editing model does too; upscaling and
   video are not (an editing model keeps the size, and makes no motion).
2. **Output size.** The output's width, height and pixel count must not exceed the model's
   `max_output_width`, `max_output_height` and `max_size_pixels` (each when set).
3. **Subject.** A guideline that lists allowed subjects excludes every other subject. The
   guidelines checked are the look's own; when none of them lists subjects, the shooting's
   default guidelines (the same precedence as every other guideline setting). A look
   without a subject breaks no subject rule.

Without a model (none named and no default model) rules 1 and 2 have nothing to check.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from models.generation import GenerationStrategy
from models.generation_model import ToolType
from services.errors import Conflict

STRATEGY_TOOL_TYPES: dict[GenerationStrategy, frozenset[ToolType]] = {
    GenerationStrategy.GENERATE: frozenset({ToolType.BASE_GENERATION}),
    GenerationStrategy.EDITING: frozenset({ToolType.IMAGE_EDITING}),
    GenerationStrategy.REFINE: frozenset({ToolType.UPSCALING}),
    GenerationStrategy.VIDEO: frozenset({ToolType.VIDEO_GENERATION}),
    GenerationStrategy.BACKGROUND_FIXING: frozenset(
        {ToolType.BACKGROUND_FIXING, ToolType.IMAGE_EDITING}
    ),
    GenerationStrategy.FACE_FIXING: frozenset({ToolType.FACE_FIXING, ToolType.IMAGE_EDITING}),
    GenerationStrategy.IMAGE_ADJUSTING: frozenset(
        {ToolType.IMAGE_ADJUSTING, ToolType.IMAGE_EDITING}
    ),
}


class RuleBroken(Conflict):
    """A generation that breaks a business rule: 409 with the reason (`detail`)."""


@dataclass(frozen=True, slots=True)
class ModelFacts:
    name: str
    tool_types: frozenset[str]
    max_output_width: int | None = None
    max_output_height: int | None = None
    max_size_pixels: int | None = None


@dataclass(frozen=True, slots=True)
class GuidelineFacts:
    id: uuid.UUID
    name: str
    subject_ids: frozenset[uuid.UUID]  # empty: every subject allowed


@dataclass(frozen=True, slots=True)
class GenerationFacts:
    strategy: GenerationStrategy
    width: int
    height: int
    subject_id: uuid.UUID | None
    model: ModelFacts | None
    look_guidelines: Sequence[GuidelineFacts] = ()
    default_guidelines: Sequence[GuidelineFacts] = ()


def tool_type_problem(strategy: GenerationStrategy, model: ModelFacts) -> str | None:
    accepted = STRATEGY_TOOL_TYPES[strategy]
    if accepted & model.tool_types:
        return None
    needed = " or ".join(sorted(accepted))
    return (
        f"Model {model.name!r} does not do {strategy.value} "
        f"(needs tool type {needed}; it has {', '.join(sorted(model.tool_types)) or 'none'})"
    )


def size_problem(width: int, height: int, model: ModelFacts) -> str | None:
    if model.max_output_width is not None and width > model.max_output_width:
        return (
            f"Output width {width} is above model {model.name!r}'s maximum {model.max_output_width}"
        )
    if model.max_output_height is not None and height > model.max_output_height:
        return (
            f"Output height {height} is above model {model.name!r}'s maximum "
            f"{model.max_output_height}"
        )
    if model.max_size_pixels is not None and width * height > model.max_size_pixels:
        return (
            f"Output {width}x{height} ({width * height} pixels) is above model "
            f"{model.name!r}'s maximum of {model.max_size_pixels} pixels"
        )
    return None


def restricting(facts: GenerationFacts) -> list[GuidelineFacts]:
    """The guidelines whose subject lists apply: the look's that list subjects, else the
    shooting's default ones that do."""
    own = [g for g in facts.look_guidelines if g.subject_ids]
    return own or [g for g in facts.default_guidelines if g.subject_ids]


def subject_problem(facts: GenerationFacts) -> str | None:
    if facts.subject_id is None:
        return None
    for guideline in restricting(facts):
        if facts.subject_id not in guideline.subject_ids:
            return (
                f"Guideline {guideline.name!r} ({guideline.id}) does not allow the look's "
                f"subject {facts.subject_id}"
            )
    return None


def problems(facts: GenerationFacts) -> list[str]:
    """Every rule the generation breaks, as reasons a person can act on (none: it may run)."""
    found: list[str | None] = [subject_problem(facts)]
    if facts.model is not None:
        found.append(tool_type_problem(facts.strategy, facts.model))
        found.append(size_problem(facts.width, facts.height, facts.model))
    return [reason for reason in found if reason]


def check(facts: GenerationFacts) -> None:
    """RuleBroken (409) naming every broken rule, or nothing."""
    reasons = problems(facts)
    if reasons:
        raise RuleBroken("; ".join(reasons))
