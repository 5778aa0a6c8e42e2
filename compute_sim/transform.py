"""The simulator's image tools: strategies with a source image transform that image
visibly, so a person (and a test) sees which tool ran and that the source arrived.

- REFINE: resized to the output size (the source's times `upscale`) and sharpened;
- BACKGROUND_FIXING: the background (the regions of the border colours, flooded from the
  corners) painted in the background preset's colour, studio white without one;
- FACE_FIXING: the face region (where the renders put the head) smoothed and outlined;
- IMAGE_ADJUSTING: brighter and more contrasted;
- EDITING: the instruction (the prompt) written over the top as a caption band.

Every output carries a small label (strategy and seed) at the bottom, so the outputs of one
task differ (the backend deduplicates identical images) and say what made them. Pure and
synchronous, like compute_sim/render.py: the runner calls it via `asyncio.to_thread`.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from compute_sim import render
from compute_sim.inputs import Scene

STUDIO_WHITE = (245, 245, 245)
FACE_MARK = (255, 0, 255)
# How far a pixel's colour may be from the corner's (sum over RGB) and still be background.
BACKGROUND_THRESHOLD = 60
BRIGHTNESS, CONTRAST = 1.3, 1.25


def _background(image: Image.Image, colour: tuple[int, int, int]) -> None:
    width, height = image.size
    for corner in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
        ImageDraw.floodfill(image, corner, colour, thresh=BACKGROUND_THRESHOLD)


def face_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The head of compute_sim's figure (render.render_generation): centred, the second
    and third tenths of the height, with room for the figure's horizontal jitter."""
    unit = height / 10
    half = unit * 0.6 + width * 0.1
    return round(width / 2 - half), round(unit * 1.0), round(width / 2 + half), round(unit * 2.8)


def _face(image: Image.Image) -> None:
    box = face_box(*image.size)
    image.paste(image.crop(box).filter(ImageFilter.GaussianBlur(2)), box[:2])
    line = max(3, min(image.size) // 40)
    ImageDraw.Draw(image).rectangle(box, outline=FACE_MARK, width=line)


def _caption(image: Image.Image, text: str, *, top: bool, shade: int) -> Image.Image:
    width, height = image.size
    font_size = max(10, min(width, height) // 20)
    margin = max(2, font_size // 3)
    band_height = min(height, font_size + 2 * margin)
    canvas = image.convert("RGBA")
    if shade:
        band = Image.new("RGBA", (width, band_height), (0, 0, 0, shade))
        canvas.alpha_composite(band, (0, 0 if top else height - band_height))
    font = render._font(font_size)
    y = margin if top else height - band_height + margin
    ImageDraw.Draw(canvas).text(
        (margin, y),
        render._fit(text, font, width - 2 * margin),
        fill="white",
        font=font,
        stroke_width=1,
        stroke_fill="black",
    )
    return canvas.convert("RGB")


def transform_source(
    source: Image.Image,
    *,
    strategy: str,
    width: int,
    height: int,
    fmt: str,
    seed: int,
    prompt: str,
    scene: Scene | None = None,
) -> bytes:
    """The source image transformed by `strategy`, at `width` x `height`, encoded as `fmt`."""
    image = source.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    if strategy == "REFINE":
        image = image.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))
    elif strategy == "BACKGROUND_FIXING":
        colour = scene.background_colour if scene and scene.background_colour else STUDIO_WHITE
        _background(image, colour)
    elif strategy == "FACE_FIXING":
        _face(image)
    elif strategy == "IMAGE_ADJUSTING":
        image = ImageEnhance.Contrast(image).enhance(CONTRAST)
        image = ImageEnhance.Brightness(image).enhance(BRIGHTNESS)
    elif strategy == "EDITING":
        image = _caption(image, f"edit: {prompt or 'no instruction'}", top=True, shade=170)
    # Text only (no band): the label must not cover what the strategy changed.
    image = _caption(image, f"{strategy.lower()} · seed {seed}", top=False, shade=0)
    return render._encode(image, fmt)
