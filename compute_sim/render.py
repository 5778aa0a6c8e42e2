"""The simulator's "models": Pillow renders, image descriptions and scores.

Everything here is CPU-bound and synchronous; the runner calls it via `asyncio.to_thread`.
Outputs are pure functions of their arguments, so the same seed gives the same bytes.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
from collections.abc import Sequence
from urllib.parse import urlsplit

from PIL import Image, ImageDraw, ImageFont, ImageStat

from compute_sim.inputs import Scene

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}

# Reference colours for captions, with the temperature a stylist would call them.
_NAMED_COLOURS: dict[str, tuple[tuple[int, int, int], str]] = {
    "red": ((200, 30, 35), "warm"),
    "burgundy": ((110, 20, 35), "warm"),
    "orange": ((235, 130, 30), "warm"),
    "yellow": ((240, 215, 50), "warm"),
    "pink": ((240, 150, 180), "warm"),
    "magenta": ((200, 40, 150), "warm"),
    "brown": ((120, 75, 40), "warm"),
    "beige": ((220, 200, 160), "warm"),
    "olive": ((110, 110, 40), "cool"),
    "green": ((40, 160, 60), "cool"),
    "dark green": ((20, 80, 40), "cool"),
    "teal": ((20, 140, 140), "cool"),
    "light blue": ((130, 190, 235), "cool"),
    "blue": ((35, 75, 205), "cool"),
    "navy": ((20, 30, 80), "cool"),
    "purple": ((120, 50, 160), "cool"),
    "white": ((245, 245, 245), "neutral"),
    "light grey": ((190, 190, 190), "neutral"),
    "grey": ((128, 128, 128), "neutral"),
    "dark grey": ((64, 64, 64), "neutral"),
    "black": ((15, 15, 15), "neutral"),
}


def _hsv(rng: random.Random, hue: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(0.45, 0.9), rng.uniform(0.55, 0.95))
    return round(r * 255), round(g * 255), round(b * 255)


def _gradient(size: tuple[int, int], angle: float) -> Image.Image:
    """An "L" mask running 0->255 along `angle`, covering `size` with no blank corners."""
    # A ramp no larger than the output needs (rotating a fixed 512² one dominated the cost
    # of rendering small images, e.g. the benchmarks' 64² outputs).
    ramp_side = max(64, min(512, int(max(size) * 1.5)))
    ramp = Image.linear_gradient("L").resize((ramp_side, ramp_side))
    ramp = ramp.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    # The centred square of side ramp_side/sqrt(2) is inside the rotated ramp at any angle.
    side = int(ramp_side / math.sqrt(2))
    left = (ramp.width - side) // 2
    top = (ramp.height - side) // 2
    return ramp.crop((left, top, left + side, top + side)).resize(size)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    rgb = image.convert("RGB")
    if fmt == "png":
        rgb.save(out, "PNG", compress_level=1)  # speed over size: these are throwaway
    elif fmt == "webp":
        rgb.save(out, "WEBP", quality=85, method=2)
    else:
        rgb.save(out, _PIL_FORMATS.get(fmt, "JPEG"), quality=90)
    return out.getvalue()


def decode_image(data: bytes, *, max_side: int | None = None) -> Image.Image:
    """An RGB image from encoded bytes (optionally downscaled); raises on non-images."""
    image = Image.open(io.BytesIO(data))
    if max_side is not None:
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced scale, cheaply
    image = image.convert("RGB")
    if max_side is not None:
        image.thumbnail((max_side, max_side))
    return image


def _backdrop(rng: random.Random, size: tuple[int, int], hue: float) -> Image.Image:
    """The synthetic backdrop of a task without a background colour: a seeded gradient."""
    start, end = _hsv(rng, hue), _hsv(rng, hue + rng.uniform(0.2, 0.6))
    mask = _gradient(size, rng.uniform(0, 360))
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def _shapes(rng: random.Random, draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    short = min(width, height)
    for _ in range(rng.randint(4, 9)):
        colour = (*_hsv(rng, rng.random()), rng.randint(60, 170))
        x0, y0 = rng.uniform(-0.2, 0.9) * width, rng.uniform(-0.2, 0.9) * height
        extent = rng.uniform(0.1, 0.45) * short
        box = (x0, y0, x0 + extent * rng.uniform(0.6, 1.8), y0 + extent * rng.uniform(0.6, 1.8))
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse(box, fill=colour)
        elif shape == "rectangle":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon(
                [(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])], fill=colour
            )


def _scene_lines(scene: Scene, shown: int) -> list[str]:
    """What the inputs said, one line each, only for what was given."""
    lines: list[str] = []
    if scene.background_name or scene.background_label:
        label = f" ({scene.background_label})" if scene.background_label else ""
        lines.append(f"background: {scene.background_name or 'unnamed'}{label}")
    if scene.reference_count:
        # Received vs pasted: a reference Compute could not fetch is visible as the gap.
        lines.append(f"references: {scene.reference_count} received, {shown} shown")
    if scene.outfit_items:
        lines.append(f"outfit: {', '.join(scene.outfit_items)}")
    if scene.pose:
        lines.append(f"pose: {scene.pose}")
    return lines


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """`text` cut (with an ellipsis) to `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def render_generation(
    *,
    width: int,
    height: int,
    fmt: str,
    seed: int,
    prompt: str,
    entity_id: str,
    references: Sequence[Image.Image] = (),
    scene: Scene | None = None,
) -> bytes:
    """A synthetic "photo": a backdrop (the background preset's colour when the inputs name
    one, else a seeded gradient with shapes), a figure, the reference images as thumbnails
    (top left) and a caption band naming the entity, seed, what the inputs gave (background,
    number of references, outfit items, pose) and the prompt."""
    scene = scene or Scene()
    # Seeded by prompt + seed: another seed gives another picture, the same one the same.
    rng = random.Random(f"{prompt}\x1f{seed}")
    hue = rng.random()
    if scene.background_colour is not None:
        # A studio backdrop in the preset's colour, so the background visibly arrived.
        image = Image.new("RGBA", (width, height), (*scene.background_colour, 255))
    else:
        image = _backdrop(rng, (width, height), hue).convert("RGBA")

    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    short = min(width, height)
    if scene.background_colour is None:
        _shapes(rng, draw, width, height)

    # A stylised model: head and garment, centred, in a colour opposite the backdrop (the
    # preset's hue when there is one: a figure of the backdrop's colour would vanish, and
    # BACKGROUND_FIXING could not tell it from the background).
    if scene.background_colour is not None:
        hue = colorsys.rgb_to_hsv(*(c / 255 for c in scene.background_colour))[0]
    figure = (*_hsv(rng, hue + 0.5), 230)
    cx, unit = width / 2 + rng.uniform(-0.1, 0.1) * width, height / 10
    draw.ellipse((cx - unit * 0.6, unit * 1.2, cx + unit * 0.6, unit * 2.6), fill=figure)
    draw.polygon(
        [
            (cx - unit * 0.9, unit * 3.0),
            (cx + unit * 0.9, unit * 3.0),
            (cx + unit * rng.uniform(1.2, 2.2), unit * 8.5),
            (cx - unit * rng.uniform(1.2, 2.2), unit * 8.5),
        ],
        fill=figure,
    )
    image.alpha_composite(overlay)

    margin, border = max(2, short // 40), 2
    thumb_side = max(8, short // 4)
    x = margin
    for reference in references:
        thumb = reference.convert("RGB")
        thumb.thumbnail((thumb_side, thumb_side))
        if x + thumb.width + 2 * border > width:
            break
        framed = Image.new("RGBA", (thumb.width + 2 * border, thumb.height + 2 * border), "white")
        framed.paste(thumb, (border, border))
        image.alpha_composite(framed, (x, margin))
        x += framed.width + margin

    font_size = max(10, short // 24)
    scene_lines = _scene_lines(scene, len(references))
    lines = [entity_id, f"seed {seed}", *scene_lines] + ([prompt[:200]] if prompt else [])
    # As many lines as fit (a 64 px thumbnail-sized output still renders).
    lines = lines[: max(1, (height - 2 * margin) // (font_size + 4))]
    band_height = min(height, (font_size + 4) * len(lines) + 2 * margin)
    band = Image.new("RGBA", (width, band_height), (0, 0, 0, 140))
    image.alpha_composite(band, (0, height - band.height))
    text = ImageDraw.Draw(image)
    font = _font(font_size)
    y = height - band.height + margin
    for line in lines:
        text.text((margin, y), _fit(line, font, width - 2 * margin), fill="white", font=font)
        y += font_size + 4
    return _encode(image, fmt)


def _colour_name(rgb: tuple[int, int, int]) -> str:
    # "Redmean" distance: cheap and closer to perception than plain RGB distance.
    def distance(ref: tuple[int, int, int]) -> float:
        rmean = (rgb[0] + ref[0]) / 2
        dr, dg, db = rgb[0] - ref[0], rgb[1] - ref[1], rgb[2] - ref[2]
        return (2 + rmean / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rmean) / 256) * db * db

    return min(_NAMED_COLOURS, key=lambda name: distance(_NAMED_COLOURS[name][0]))


def describe_image(data: bytes) -> str:
    """A caption from what the pixels say: orientation, size, dominant colours, light."""
    with Image.open(io.BytesIO(data)) as original:
        width, height = original.size
    image = decode_image(data, max_side=128)
    if height > width * 1.05:
        orientation = "portrait"
    elif width > height * 1.05:
        orientation = "landscape"
    else:
        orientation = "square"

    quantised = image.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    counts = sorted(quantised.getcolors() or [], reverse=True)
    names: list[str] = []
    for _, index in counts:
        rgb = (palette[index * 3], palette[index * 3 + 1], palette[index * 3 + 2])
        name = _colour_name(rgb)
        if name not in names:
            names.append(name)
    dominant = names[0] if names else "grey"
    tone = _NAMED_COLOURS[dominant][1]

    luminance = ImageStat.Stat(image.convert("L"))
    brightness, spread = luminance.mean[0] / 255, luminance.stddev[0]
    light = "bright" if brightness > 0.66 else "dim" if brightness < 0.33 else "evenly lit"
    contrast = (
        "high contrast" if spread > 64 else "soft contrast" if spread < 24 else "moderate contrast"
    )

    caption = f"A {orientation} photo ({width}x{height}) with dominant {tone} {dominant} tones"
    if len(names) > 1:
        caption += f", accents of {' and '.join(names[1:3])}"
    return f"{caption}; {light}, {contrast}."


def evaluation_score(urls: Sequence[str], seed: int | None, fallback: str) -> float:
    """A 0-1 score that depends only on the images' locations and the seed.

    The query string is ignored: presigned URLs of the same object differ in their
    signature on every call, and the score must not.
    """
    keys = [urlsplit(url)._replace(query="", fragment="").geturl() for url in urls] or [fallback]
    values = []
    for key in keys:
        digest = hashlib.sha256(f"{key}|{seed}".encode()).hexdigest()
        values.append(int(digest[:13], 16) / 16**13)
    return round(sum(values) / len(values), 4)
