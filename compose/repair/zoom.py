"""Zoomed repaint (the technique of ADetailer-style refiners), above the backbone interface.

A small failing object gets few pixels and few of the model's attention; repainting it in place
meets the same limit every round. Zoomed repaint crops a window around the failing regions (with
context), repaints that window's *sub-layout* at the backbone's native size, where the object
is drawn several times larger, and pastes the result back, feathered, into the working image.
Only :meth:`Backbone.repaint` is called (on the crop), so every backbone gets it, diffusers ones
included. Pixels where the mask is 0 are byte-identical to the input image.

Examples
--------
>>> crop_windows([(0.1, 0.1, 0.2, 0.2), (0.15, 0.3, 0.25, 0.4), (0.8, 0.8, 0.9, 0.9)], side=0.5)
[(0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)]
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.boxes import Box

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout


#: Context kept around a region, as a share of its size on each side, at least.
CONTEXT = 0.6


def _window(box: Box, side: float, grow: bool = True) -> Box:
    """A ``side`` x ``side`` window (normalized) centred on ``box``, inside the unit square,
    grown to hold ``box`` with its context when the box is too large for ``side`` (and ``grow``)."""
    x0, y0, x1, y1 = box
    need = max((x1 - x0), (y1 - y0)) * (1 + 2 * CONTEXT) if grow else 0.0
    s = min(1.0, max(side, need))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    wx0 = min(max(0.0, cx - s / 2), 1.0 - s)
    wy0 = min(max(0.0, cy - s / 2), 1.0 - s)
    return (round(wx0, 6), round(wy0, 6), round(wx0 + s, 6), round(wy0 + s, 6))


def _inside(box: Box, window: Box, margin: float = 0.02) -> bool:
    return (box[0] >= window[0] + margin or window[0] == 0) and (box[1] >= window[1] + margin or window[1] == 0) \
        and (box[2] <= window[2] - margin or window[2] == 1) and (box[3] <= window[3] - margin or window[3] == 1)


def crop_windows(boxes: list[Box], *, side: float = 0.5, limit: int | None = None) -> list[Box]:
    """Square windows (normalized, ``side`` a side unless a box needs more) that together hold
    every box with context; greedy: each window is placed on the first box left and shifted
    toward the centroid of the boxes it can hold. At most ``limit`` windows, the ones holding
    the most boxes first."""
    left = list(boxes)
    windows: list[tuple[Box, int]] = []
    while left:
        seed = left[0]
        window = _window(seed, side)
        held = [b for b in left if _inside(b, window)]
        # shift toward the boxes near the seed so the window holds as many as it can
        union = (min(b[0] for b in held), min(b[1] for b in held), max(b[2] for b in held), max(b[3] for b in held))
        shifted = _window(union, window[2] - window[0], grow=False)
        if _inside(seed, shifted) and all(_inside(b, shifted) for b in held):
            window = shifted
        held = [b for b in left if _inside(b, window)] or [seed]
        windows.append((window, len(held)))
        left = [b for b in left if b not in held]
    windows.sort(key=lambda w: -w[1])
    out = [w for w, _ in windows]
    return out[:limit] if limit else out


def sub_layout(layout: Layout, window: Box, canvas: tuple[int, int]) -> Layout:
    """The part of ``layout`` seen through ``window``, as a layout of its own on ``canvas``:
    every box that meets the window, in window coordinates, clipped to it."""
    wx0, wy0, wx1, wy1 = window
    sx, sy = wx1 - wx0, wy1 - wy0
    boxes, objects = {}, {}
    for instance, (x0, y0, x1, y1) in layout.boxes.items():
        bx0, by0 = max(0.0, (x0 - wx0) / sx), max(0.0, (y0 - wy0) / sy)
        bx1, by1 = min(1.0, (x1 - wx0) / sx), min(1.0, (y1 - wy0) / sy)
        if bx1 - bx0 <= 1e-3 or by1 - by0 <= 1e-3:
            continue
        boxes[instance] = (bx0, by0, bx1, by1)
        if instance in layout.objects:
            objects[instance] = layout.objects[instance]
    return layout.model_copy(update={"canvas": tuple(canvas), "boxes": boxes, "objects": objects,
                                     "counts": {}})


def blend(original: Image.Image, new: Image.Image, mask: Image.Image) -> Image.Image:
    """``new`` over ``original`` by ``mask`` (0..255, feathered edges blend); where the mask is 0
    the result is byte-identical to ``original``."""
    import numpy as np
    from PIL import Image as PILImage

    a = np.asarray(original.convert("RGB"))
    b = np.asarray(new.convert("RGB").resize(original.size, PILImage.LANCZOS))
    m = np.asarray(mask.convert("L").resize(original.size, PILImage.NEAREST)).astype(np.float32)[..., None] / 255.0
    out = np.clip(np.rint(a * (1 - m) + b * m), 0, 255).astype(np.uint8)
    out = np.where(m > 0, out, a)
    return PILImage.fromarray(out)


def zoomed_repaint(model, image: Image.Image, mask: Image.Image, layout: Layout, boxes: list[Box], *,
                   native: tuple[int, int], seed: int, steps: int | None = None,
                   guidance: float | None = None, side: float | None = None,
                   limit: int | None = None) -> tuple[Image.Image, dict[str, Any]]:
    """Repaint ``boxes`` of ``image`` (the working image, any size) through crop windows.

    Parameters
    ----------
    model : Backbone
        Any backbone; only its ``repaint`` is called, on crops resized to ``native``.
    image, mask : PIL.Image.Image
        The working image and its repaint mask (``L``, same size; 0 = keep exactly).
    layout : Layout
        The layout to draw (normalized boxes; its canvas is not used).
    boxes : list of boxes
        The regions to repaint (normalized), grouped into windows by :func:`crop_windows`.
    native : (int, int)
        The backbone's native render size (width, height): each crop is repainted at it.
    side : float, optional
        Window side as a share of the image (default: native over working size, so a crop is
        repainted at 1:1 or magnified; at least 0.35, at most 1).
    limit : int, optional
        At most this many windows (one repaint each; the batch is one call).

    Returns
    -------
    (PIL.Image.Image, dict)
        The repaired working image and what was done (``windows``, ``images`` repainted, seconds).
    """
    from PIL import Image as PILImage

    w, h = image.size
    if side is None:
        side = min(1.0, max(0.35, native[0] / w))
    windows = crop_windows(boxes, side=side, limit=limit)
    crops, masks, layouts, rects, used = [], [], [], [], []
    for window in windows:
        rect = (round(window[0] * w), round(window[1] * h), round(window[2] * w), round(window[3] * h))
        crop_mask = mask.crop(rect)
        if not crop_mask.getbbox():
            continue
        rects.append(rect)
        used.append(window)
        crops.append(image.crop(rect).resize(native, PILImage.LANCZOS))
        masks.append(crop_mask.resize(native, PILImage.BILINEAR))
        layouts.append(sub_layout(layout, window, native))
    start = time.perf_counter()
    out = image
    if crops:
        result = model.repaint(crops, masks, layouts, seeds=[seed + i for i in range(len(crops))],
                               steps=steps, guidance=guidance)
        canvas = image.copy()
        for rect, new in zip(rects, result.images):
            canvas.paste(new.convert("RGB").resize((rect[2] - rect[0], rect[3] - rect[1]), PILImage.LANCZOS),
                         rect[:2])
        # only inside a window and the mask: a window's pixels beyond the mask stay as they were
        window_mask = PILImage.new("L", image.size, 0)
        for rect in rects:
            window_mask.paste(mask.crop(rect), rect[:2])
        out = blend(image, canvas, window_mask)
    return out, {"windows": [[round(v, 4) for v in r] for r in used], "images": len(crops),
                 "seconds": time.perf_counter() - start}
