"""How a layout becomes conditioning: the prompts it gives (one for the whole image, one per
region, back to front), the boxes as exclusive masks on a token grid, and the size to render.

Examples
--------
>>> from compose.layouts import Layout, Region
>>> lay = Layout(canvas=(64, 64), boxes={"a": (0.0, 0.0, 0.5, 1.0), "b": (0.25, 0.0, 1.0, 1.0)},
...              objects={"a": Region(phrase="a cat", **{"class": "cat"}, z=1),
...                       "b": Region(phrase="a dog", **{"class": "dog"})})
>>> prompts = layout_prompts(lay)
>>> prompts.base, prompts.regions
('a dog, a cat', ['a dog', 'a cat'])
>>> masks = exclusive_box_masks(lay, prompts.instances, 4, 4)   # 'a' (z=1) is in front of 'b'
>>> masks[1].astype(int).tolist()[0], masks[0].astype(int).tolist()[0]
([1, 1, 0, 0], [0, 0, 1, 1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from compose.layouts import Layout


@dataclass
class LayoutPrompts:
    """The prompts a layout gives: one for the whole image, one per region (back to front)."""

    base: str
    negative: str
    instances: list[str]
    regions: list[str]
    region_negatives: list[str]


def layout_prompts(layout: Layout) -> LayoutPrompts:
    """The base prompt (every phrase, the background and the style) and one prompt per region,
    back to front; a region's negative prompt is its ``attributes["negative"]``, else the
    layout's negative prompt."""
    instances = layout.drawing_order()
    phrases, negatives = [], []
    for instance in instances:
        region = layout.objects.get(instance)
        phrases.append(region.phrase if region else instance.split("#")[0])
        own = region.attributes.get("negative") if region else None
        negatives.append(str(own) if own else (layout.negative or ""))
    style = f", {layout.style}" if layout.style else ""
    base_parts = list(phrases) + [p for p in (layout.background, layout.style) if p]
    return LayoutPrompts(base=", ".join(base_parts), negative=layout.negative or "",
                         instances=instances, regions=[p + style for p in phrases],
                         region_negatives=negatives)


def exclusive_box_masks(layout: Layout, instances: list[str], height: int,
                        width: int) -> np.ndarray:
    """Boolean masks ``(len(instances), height, width)`` on a grid, a cell belonging to the box
    that contains its centre; where boxes overlap the later instance (in front) owns the cell.
    A box too small to contain any cell centre still owns the cell under its own centre."""
    import numpy as np

    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    masks = np.zeros((len(instances), height, width), dtype=bool)
    owner = np.full((height, width), -1)
    for k, instance in enumerate(instances):
        x0, y0, x1, y1 = layout.boxes[instance]
        inside = ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
        if not inside.any():
            cy = min(height - 1, int((y0 + y1) / 2 * height))
            cx = min(width - 1, int((x0 + x1) / 2 * width))
            inside[cy, cx] = True
        owner[inside] = k
    for k in range(len(instances)):
        masks[k] = owner == k
    return masks


def grid_for_tokens(tokens: int, height: int, width: int) -> tuple[int, int]:
    """The ``(h, w)`` grid of ``tokens`` image tokens for a ``height x width`` latent, assuming
    stride-2 downsampling with ceil (as in UNets): the level where ``h * w == tokens``."""
    h, w = height, width
    for _ in range(8):
        if h * w == tokens:
            return h, w
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    raise ValueError(f"{tokens} tokens do not match a {height}x{width} latent at any level")


def render_size(layout: Layout, multiple: int, resolution: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of the image to render for ``layout``: its canvas (scaled so its longest
    side is ``resolution`` when given), rounded to a multiple of ``multiple``.

    >>> from compose.layouts import Layout
    >>> render_size(Layout(canvas=(500, 300), boxes={}), 16), render_size(Layout(canvas=(64, 32), boxes={}), 8, 512)
    ((496, 304), (512, 256))
    """
    w, h = layout.canvas
    if resolution:
        scale = resolution / max(w, h)
        w, h = w * scale, h * scale
    return (max(multiple, round(w / multiple) * multiple),
            max(multiple, round(h / multiple) * multiple))
