"""Drawing the embedded world exactly: a laid-out scene as shapes, with its ground truth.

Each object is drawn as its shape filling its box, in the layout's drawing order (back to
front), at ``supersample`` times the resolution and then averaged down, so that edges are
anti-aliased while the middle of every shape keeps its exact color. Alongside the image it
returns each instance's *visible* mask (the pixels where that object is the front-most thing)
and what it drew, which is the ground truth for the dataset and for measuring detectors.

Examples
--------
>>> from compose.layouts import Layout, Region
>>> lay = Layout(canvas=(64, 64), boxes={"c#0": (0.25, 0.25, 0.75, 0.75)},
...              objects={"c#0": Region(phrase="a red circle", **{"class": "circle"},
...                                     attributes={"color": "red"})})
>>> scene = render_layout(lay)
>>> scene.image.size, scene.image.getpixel((32, 32))
((64, 64), (220, 40, 40))
>>> int(scene.masks["c#0"].sum()) in range(780, 830)   # pi/4 of a 32 x 32 box
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from compose.vocabulary import (
    BACKGROUNDS,
    COLOR_NAMES,
    COLORS,
    background_name,
    phrase_to_object,
    shape_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout


@dataclass
class DrawnObject:
    """What the renderer drew for one instance."""

    instance: str
    shape: str
    color: str
    box: tuple[float, float, float, float]


@dataclass
class RenderedScene:
    """A rendered image, each instance's visible mask (bool, H x W: at least half the pixel is
    that object, in front), its visible coverage (float, the share of each pixel) and what was
    drawn, back to front."""

    image: Image.Image
    masks: dict[str, np.ndarray]
    objects: list[DrawnObject]
    background: str
    seed: int | None = None
    coverage: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def shape_outline(shape: str, box: tuple[float, float, float, float]) -> list[tuple[float, float]] | None:
    """The polygon of ``shape`` filling ``box`` (pixels, x0 y0 x1 y1); ``None`` for the circle,
    which is drawn as an ellipse.

    >>> shape_outline("diamond", (0, 0, 10, 10))
    [(5.0, 0), (10, 5.0), (5.0, 10), (0, 5.0)]
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = x0 + w / 2, y0 + h / 2
    if shape == "circle":
        return None
    if shape == "square":
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if shape == "triangle":
        return [(cx, y0), (x1, y1), (x0, y1)]
    if shape == "diamond":
        return [(cx, y0), (x1, cy), (cx, y1), (x0, cy)]
    if shape == "cross":
        a, b = w / 3, h / 3
        return [(x0 + a, y0), (x1 - a, y0), (x1 - a, y0 + b), (x1, y0 + b), (x1, y1 - b),
                (x1 - a, y1 - b), (x1 - a, y1), (x0 + a, y1), (x0 + a, y1 - b), (x0, y1 - b),
                (x0, y0 + b), (x0 + a, y0 + b)]
    if shape == "star":
        unit = []
        for k in range(10):
            radius = 1.0 if k % 2 == 0 else 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            unit.append((radius * math.cos(angle), radius * math.sin(angle)))
        ux0, ux1 = min(p[0] for p in unit), max(p[0] for p in unit)
        uy0, uy1 = min(p[1] for p in unit), max(p[1] for p in unit)
        return [(x0 + (px - ux0) / (ux1 - ux0) * w, y0 + (py - uy0) / (uy1 - uy0) * h) for px, py in unit]
    raise ValueError(f"unknown shape {shape!r}")


#: Supersampling of the shapes: the renderer draws at 4x and averages down.
SUPERSAMPLE = 4


def shape_coverage(shape: str, box: tuple[float, float, float, float], size: tuple[int, int],
                   supersample: int = SUPERSAMPLE) -> np.ndarray:
    """How much of each pixel of a ``size`` (w, h) canvas ``shape`` filling ``box`` (pixels)
    covers, in 0..1: drawn at ``supersample`` times the size and box-filtered down, as the
    renderer draws. The world detector fits its templates with this, so both read one
    definition of each shape.

    >>> cover = shape_coverage("square", (1, 1, 3, 3), (4, 4))
    >>> cover.shape, float(cover[0, 0]), float(cover[2, 2])
    ((4, 4), 0.0, 1.0)
    """
    from PIL import Image, ImageDraw

    w, h = size
    big = Image.new("L", (w * supersample, h * supersample), 0)
    _draw_shape(ImageDraw.Draw(big), shape, tuple(v * supersample for v in box), 255)
    return np.asarray(big.resize((w, h), Image.BOX), dtype=np.float32) / 255.0


def _draw_shape(draw, shape: str, box: tuple[float, float, float, float], fill) -> None:
    outline = shape_outline(shape, box)
    if outline is None:
        x0, y0, x1, y1 = box
        # PIL's ellipse includes its right/bottom edge pixel; shrink by one to fill the box exactly
        draw.ellipse((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), fill=fill)
    else:
        draw.polygon(outline, fill=fill)


def with_open_colors_drawn(layout: Layout, seed: int) -> Layout:
    """``layout`` with a color, drawn from ``seed``, for every instance whose color is open.

    A scene that names no color leaves the choice to the renderer; the procedural renderer draws
    one (:func:`resolve_object`), and the embedded model is asked for one explicitly, since a
    model conditioned on "any color" draws a washed-out average that no color check can read.

    >>> from compose.layouts import Layout, Region
    >>> lay = Layout(canvas=(64, 64), boxes={"c#0": (0.1, 0.1, 0.5, 0.5)},
    ...              objects={"c#0": Region(phrase="a circle", **{"class": "circle"})})
    >>> with_open_colors_drawn(lay, 3).objects["c#0"].attributes["color"] in COLORS
    True
    >>> with_open_colors_drawn(lay, 3) == with_open_colors_drawn(lay, 3)
    True
    """
    rng = random.Random(f"open-colors:{seed}")
    objects = dict(layout.objects)
    for instance in sorted(objects):
        region = objects[instance]
        if region.attributes.get("color") in COLORS or phrase_to_object(region.phrase)[1] is not None:
            continue
        objects[instance] = region.model_copy(
            update={"attributes": {**region.attributes, "color": rng.choice(COLOR_NAMES)}})
    return layout.model_copy(update={"objects": objects})


def resolve_object(instance: str, layout: Layout, rng: random.Random) -> tuple[str, str]:
    """``(shape, color)`` of an instance: the class names the shape; ``attributes.color``
    (or a color word in the phrase) names the color, else one is drawn from ``rng``."""
    region = layout.objects.get(instance)
    if region is None:
        return SHAPE_FALLBACK, rng.choice(COLOR_NAMES)
    shape = shape_name(region.class_name) or phrase_to_object(region.phrase)[0]
    if shape is None:
        raise ValueError(f"{instance}: class {region.class_name!r} is not a shape of the embedded world")
    color = region.attributes.get("color") or phrase_to_object(region.phrase)[1]
    if color not in COLORS:
        color = rng.choice(COLOR_NAMES)
    return shape, color


#: The shape drawn for a box that has no region at all (a bare layout of boxes).
SHAPE_FALLBACK = "square"


def background_array(name: str, size: tuple[int, int], seed: int | None) -> np.ndarray:
    """A softly textured background tone: a gentle linear gradient (at most +-6 levels) in a
    seeded direction, so that the tone never drifts toward an object color."""
    w, h = size
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * (xs / max(w - 1, 1) - 0.5) + np.sin(angle) * (ys / max(h - 1, 1) - 0.5))
    tone = np.asarray(BACKGROUNDS[name], dtype=np.float32)
    return np.clip(tone[None, None, :] + 12.0 * ramp[..., None], 0, 255)


def render_layout(layout: Layout, size: tuple[int, int] | None = None, *, seed: int | None = None,
                  supersample: int | None = None, background: str | None = None,
                  with_masks: bool = True) -> RenderedScene:
    """Draw ``layout`` exactly: shapes filling their boxes back to front, anti-aliased.

    Parameters
    ----------
    layout : Layout
        Boxes (normalised 0..1) and regions; ``class`` names the shape, ``attributes.color``
        the color.
    size : (int, int), optional
        Output size in pixels; defaults to the layout's canvas.
    seed : int, optional
        Seeds the background texture and any color the layout leaves open; defaults to the
        layout's seed (0 when it has none).
    supersample : int, optional
        Drawing scale before averaging down (default 4, or 2 above 256 pixels a side).
    background : str, optional
        A key of :data:`~compose.vocabulary.BACKGROUNDS`; defaults to the tone the
        layout's background text names.
    with_masks : bool
        Compute each instance's visible mask (skipped for speed when only the image is used).
    """
    from PIL import Image, ImageDraw

    w, h = size or layout.canvas
    seed = layout.seed if seed is None else seed
    seed = 0 if seed is None else seed
    scale = supersample or (4 if max(w, h) <= 256 else 2)
    big = (w * scale, h * scale)
    rng = random.Random(seed)
    bg = background or background_name(layout.background)

    tone = np.rint(background_array(bg, (w, h), seed)).astype(np.uint8)
    canvas = Image.fromarray(tone, "RGB").resize(big, Image.NEAREST)
    front = Image.new("L", big, 0)  # 1 + index of the front-most object at each fine pixel
    paint, mark = ImageDraw.Draw(canvas), ImageDraw.Draw(front)
    drawn: list[DrawnObject] = []
    for index, instance in enumerate(layout.drawing_order()):
        shape, color = resolve_object(instance, layout, rng)
        x0, y0, x1, y1 = layout.boxes[instance]
        fine_box = (x0 * big[0], y0 * big[1], x1 * big[0], y1 * big[1])
        _draw_shape(paint, shape, fine_box, COLORS[color])
        _draw_shape(mark, shape, fine_box, index + 1)
        drawn.append(DrawnObject(instance, shape, color, (x0, y0, x1, y1)))

    # a box filter over whole scale x scale blocks: exact colors inside, averaged edges
    image = canvas.resize((w, h), Image.BOX)
    masks, coverage = {}, {}
    if with_masks:
        blocks = np.asarray(front).reshape(h, scale, w, scale).transpose(0, 2, 1, 3).reshape(h, w, -1)
        taken = np.zeros((h, w), dtype=bool)
        for index in range(len(drawn) - 1, -1, -1):  # front to back: a half-half pixel goes to the front one
            share = np.count_nonzero(blocks == index + 1, axis=-1) / (scale * scale)
            coverage[drawn[index].instance] = share
            masks[drawn[index].instance] = (share >= 0.5) & ~taken
            taken |= masks[drawn[index].instance]
        masks = {obj.instance: masks[obj.instance] for obj in drawn}
    return RenderedScene(image=image, masks=masks, objects=drawn, background=bg, seed=seed, coverage=coverage)
