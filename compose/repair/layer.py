"""Layered repair: draw the failing instances on their own, then composite them in z-order.

Repainting a small object in place, or zoomed, leaves the model to draw it in a crowd, over
another object's color, or under one: the conditions it draws worst (a small star inside a large
cross comes out a blob; the thing *behind* another is smudged into it). A model that draws one
shape on a plain background almost always draws it right. So this strategy:

1. **sprites**: renders the failing instances alone, up to :data:`PER_SHEET` on one *sprite
   sheet* (one render, each instance in its own cell at a size the model draws well,
   :data:`SPRITE_SIDE`, with its own aspect), and finds each with the verifier's detector: an
   instance the model did not draw right (class, color) is left for the next round;
2. **erase**: clears each target's old place (its layout box, the detection bound to it, and
   the regions the plan clears) by filling from the nearest pixels around it, keeping every
   other instance's visible pixels; what is filled takes the color of what lies around (the
   container of an ``inside`` child, the background otherwise);
3. **composite**: pastes each sprite's pixels, cut out by its detection mask, into its layout
   box, lowest z first; pixels of instances in front of it (higher z) are kept, so ``behind``
   holds by construction.

It needs a detector that returns masks (the embedded world's does; OWLv2 does not, and the
loop then uses zoomed repaint). The composite mask is the union of what was erased and what was
pasted: pixels where it is 0 are byte-identical to the input image. A sheet is drawn with a third
of a render's steps (:func:`sprite_settings`): one shape in a cell of a plain sheet is the easiest
thing the model draws. Its cost is counted at those steps (8 NFE against a render's 24 on the
embedded model: 4 steps, two guidance passes each).

Examples
--------
>>> sheet_boxes([(1.0, 1.0), (2.0, 1.0)])
[(0.07, 0.07, 0.43, 0.43), (0.57, 0.1375, 0.93, 0.3625)]
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.boxes import Box
from compose.repaint import with_detection

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout

#: Instances drawn on one sprite sheet (one render); sheets per round are capped by the caller.
PER_SHEET = 4
#: A sprite's longer side, as a share of the sheet's: in the middle of the sizes the embedded
#: model was trained on (0.14-0.42), and several times the few pixels a crowded scene gives.
SPRITE_SIDE = {1: 0.42, 2: 0.36, 3: 0.27}
#: A sprite with a like-colored neighbour within 2% of the side is pasted this share of its box
#: inside each side: a hair of background between the two keeps them apart for the detector.
INSET = 0.08
#: Width (pixels of the working image) of the outline a sprite gets over a like-colored object.
OUTLINE = 1
#: Sprite sheets take this share of the render's steps (at least :data:`MIN_SPRITE_STEPS`), with
#: the render's guidance. Chosen on tuning sets only (the tune half of ``examples/hard``, two
#: hard suites of other seeds, the shipped suite's ``inside`` prompts at seeds 1-3): a third of
#: the steps (4 of 12) did as well as all 12 on both; dropping guidance as well (one pass a step)
#: found every sprite on its sheet but lost ``inside`` composites (65 of 75 against 70).
SPRITE_STEPS_SHARE = 1 / 3
MIN_SPRITE_STEPS = 4
#: Growth of the erased box beyond the layout box and the old detection (share of the side).
ERASE_GROW = 0.03


def sheet_boxes(aspects: list[tuple[float, float]]) -> list[Box]:
    """Boxes for sprites of the given (width, height) aspects on one sheet: a 1 x 1, 2 x 2 or
    3 x 3 grid of cells, each sprite centred in its cell, its longer side
    :data:`SPRITE_SIDE` of the sheet."""
    n = len(aspects)
    grid = 1 if n <= 1 else 2 if n <= 4 else 3
    side = SPRITE_SIDE[grid]
    out = []
    for k, (w, h) in enumerate(aspects):
        ratio = min(1.6, max(1 / 1.6, w / max(h, 1e-9)))
        bw, bh = (side, side / ratio) if ratio >= 1 else (side * ratio, side)
        cx, cy = ((k % grid) + 0.5) / grid, ((k // grid) + 0.5) / grid
        out.append(tuple(round(v, 4) for v in (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)))
    return out


def sprite_settings(model, steps: int | None, guidance: float | None) -> tuple[int | None, float | None]:
    """The ``(steps, guidance)`` sprite sheets are rendered with, given the render's (``None`` =
    the backbone's defaults): :data:`SPRITE_STEPS_SHARE` of the steps, the same guidance. A
    backbone without steps (no network) is left as it is.

    Examples
    --------
    >>> from compose.backbones.embedded import EmbeddedBackbone
    >>> sprite_settings(EmbeddedBackbone(), None, None)
    (4, None)
    >>> sprite_settings(EmbeddedBackbone(), 30, 4.0)
    (10, 4.0)
    """
    from compose.repair.compute import default_steps

    base = steps or default_steps(model)
    if not base:
        return steps, guidance
    return max(MIN_SPRITE_STEPS, round(base * SPRITE_STEPS_SHARE)), guidance


def _inset(box: Box, share: float) -> Box:
    dx, dy = share * (box[2] - box[0]), share * (box[3] - box[1])
    return (box[0] + dx, box[1] + dy, box[2] - dx, box[3] - dy)


def _near(a: Box, b: Box, gap: float) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _iou(a: Box, b: Box) -> float:
    from compose.boxes import iou

    return iou(a, b)


def _px(box: Box, size: tuple[int, int], grow: float = 0.0) -> tuple[int, int, int, int]:
    w, h = size
    gx, gy = grow * w, grow * h
    return (max(0, int(box[0] * w - gx)), max(0, int(box[1] * h - gy)),
            min(w, round(box[2] * w + gx + 0.4999)), min(h, round(box[3] * h + gy + 0.4999)))


def fill_from_surroundings(pixels, erase, sources=None):
    """``pixels`` (h, w, 3 uint8) with the ``erase`` pixels (bool) replaced by the nearest pixel
    of ``sources`` (bool; default: every pixel not erased), then smoothed within the erased
    region only; pixels outside ``erase`` are returned unchanged."""
    import numpy as np
    from scipy import ndimage

    if not erase.any():
        return pixels.copy()
    known = ~erase if sources is None else (sources & ~erase)
    if not known.any():
        known = ~erase
    if not known.any():
        return pixels.copy()
    _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
    filled = pixels[iy, ix].astype(np.float32)
    smooth = np.stack([ndimage.gaussian_filter(filled[..., c], 1.0) for c in range(3)], axis=-1)
    out = pixels.copy()
    out[erase] = np.clip(np.rint(smooth[erase]), 0, 255).astype(np.uint8)
    return out


def layered_repaint(model, image: Image.Image, layout: Layout, instances: list[str], report, *,
                    native: tuple[int, int], seed: int, detector, clear: list[Box] = (),
                    steps: int | None = None, guidance: float | None = None,
                    max_sheets: int = 1) -> tuple[Image.Image, Image.Image, dict[str, Any]]:
    """Redraw ``instances`` of ``image`` as sprites composited in z-order (see the module).

    Parameters
    ----------
    model : Backbone
        Renders the sprite sheets (``render`` of a layout with just the sprites).
    image : PIL.Image.Image
        The working image (any size).
    layout : Layout
        The layout to draw: the instances' boxes (normalized), regions and z.
    instances : list of str
        The instances to redraw (at most ``max_sheets * PER_SHEET``; the rest wait).
    report : Report
        The image's verify report: its detections (with masks) and binding say which pixels
        are whose.
    native : (int, int)
        The backbone's render size; sheets are rendered at it.
    seed : int
        Seeds the sheets.
    detector : Detector
        Finds the sprites on their sheets (and their masks).
    clear : list of boxes
        Regions to erase to their surroundings and not redraw (extra objects, old places).

    Returns
    -------
    (PIL.Image.Image, PIL.Image.Image, dict)
        The new working image, its composite mask (``L``; 0 = untouched) and what was done:
        ``sheets`` rendered, ``drawn`` and ``missed`` instances.
    """
    import numpy as np
    from PIL import Image as PILImage
    from scipy import ndimage

    start = time.perf_counter()
    w, h = image.size
    targets = [i for i in instances if i in layout.boxes and i in layout.objects][:max_sheets * PER_SHEET]
    detections = list(getattr(report, "detections", []) or [])
    binding = dict(getattr(report, "binding", {}) or {})
    # 1. sprite sheets: each target alone, at a size the model draws well
    sheets, placed = [], []
    for first in range(0, len(targets), PER_SHEET):
        group = targets[first:first + PER_SHEET]
        aspects = [((layout.boxes[i][2] - layout.boxes[i][0]) * w, (layout.boxes[i][3] - layout.boxes[i][1]) * h)
                   for i in group]
        boxes = sheet_boxes(aspects)
        objects = {i: layout.objects[i].model_copy(update={"z": 0}) for i in group}
        sheets.append(layout.model_copy(update={"canvas": tuple(native), "boxes": dict(zip(group, boxes)),
                                                "objects": objects, "counts": {}}))
        placed.append(list(zip(group, boxes)))
    sprites: dict[str, tuple[Any, Box]] = {}  # instance -> (sheet image, its box there, its mask)
    if sheets:
        rendered = model.render(sheets, seeds=[seed + k for k in range(len(sheets))], steps=steps, guidance=guidance)
        for sheet_image, group in zip(rendered.images, placed):
            found = detector.detect(sheet_image)
            for instance, box in group:
                region = layout.objects[instance]
                color = (region.attributes or {}).get("color")
                fits = [d for d in found if d.class_name == region.class_name and d.mask is not None
                        and (color is None or d.color is None or d.color == color) and _iou(d.box, box) >= 0.4]
                if fits:
                    best = max(fits, key=lambda d: _iou(d.box, box))
                    sprites[instance] = (sheet_image.convert("RGB"), box, best.mask)
    # 2. erase the old places of what is redrawn, and the regions to clear
    pixels = np.asarray(image.convert("RGB")).copy()
    drawn = [i for i in targets if i in sprites]
    redrawn = set(drawn)
    keep = np.zeros((h, w), bool)
    owners: dict[str, Any] = {}
    for instance, k in binding.items():
        if k is None or k >= len(detections) or detections[k].mask is None:
            continue
        mask = np.asarray(detections[k].mask, bool)
        if mask.shape != (h, w):
            continue
        owners[instance] = mask
        if instance not in redrawn:
            keep |= mask
    erase = np.zeros((h, w), bool)
    regions: list[Box] = list(clear)
    for instance in drawn:
        box = layout.boxes[instance]
        k = binding.get(instance)
        # where it was found, unless it was moved away from there (the plan clears that place)
        if k is not None and k < len(detections) and _near(tuple(detections[k].box), box, 0.0):
            box = with_detection(box, tuple(detections[k].box))
        regions.append(box)
    for box in regions:
        x0, y0, x1, y1 = _px(box, (w, h), ERASE_GROW)
        erase[y0:y1, x0:x1] = True
    erase &= ~keep
    # fill from what lies around, but not from an object beside the region (that would grow
    # it): only from one that holds the region's centre and is larger (a container), and from
    # the background
    sources = np.ones((h, w), bool)
    for d in detections:
        if d.mask is None or np.shape(d.mask) != (h, w):
            continue
        bx = d.box
        holds = any(bx[0] <= (r[0] + r[2]) / 2 <= bx[2] and bx[1] <= (r[1] + r[3]) / 2 <= bx[3]
                    and (bx[2] - bx[0]) * (bx[3] - bx[1]) >= 1.5 * (r[2] - r[0]) * (r[3] - r[1]) for r in regions)
        if not holds:
            sources &= ~np.asarray(d.mask, bool)
    pixels = fill_from_surroundings(pixels, erase, sources)
    # 3. composite, lowest z first; what is in front of a sprite stays in front
    alpha_total = erase.astype(np.float32)
    for instance in sorted(drawn, key=lambda i: layout.objects[i].z):
        sheet_image, sbox, smask = sprites[instance]
        sw, sh = sheet_image.size
        dbox = layout.boxes[instance]
        color = (layout.objects[instance].attributes or {}).get("color")
        if any(o != instance and (layout.objects[o].attributes or {}).get("color") == color
               and _near(layout.boxes[o], dbox, 0.02) for o in layout.objects if o in layout.boxes):
            dbox = _inset(dbox, INSET)
        sx0, sy0, sx1, sy1 = (sbox[0] * sw, sbox[1] * sh, sbox[2] * sw, sbox[3] * sh)
        # the sprite's box and a margin of a fifth of it each side (tips drawn past the box)
        mx, my = 0.2 * (sx1 - sx0), 0.2 * (sy1 - sy0)
        src = (max(0, int(sx0 - mx)), max(0, int(sy0 - my)), min(sw, int(np.ceil(sx1 + mx))), min(sh, int(np.ceil(sy1 + my))))
        # the same margins in the destination, in proportion to the box
        fx = (dbox[2] - dbox[0]) * w / max(sx1 - sx0, 1e-6)
        fy = (dbox[3] - dbox[1]) * h / max(sy1 - sy0, 1e-6)
        dx0, dy0 = dbox[0] * w - (sx0 - src[0]) * fx, dbox[1] * h - (sy0 - src[1]) * fy
        dx1, dy1 = dbox[2] * w + (src[2] - sx1) * fx, dbox[3] * h + (src[3] - sy1) * fy
        X0, Y0, X1, Y1 = round(dx0), round(dy0), round(dx1), round(dy1)
        if X1 - X0 < 2 or Y1 - Y0 < 2:
            continue
        crop_mask = np.asarray(smask, bool)[src[1]:src[3], src[0]:src[2]]
        crop_rgb = np.asarray(sheet_image.crop(src).convert("RGB")).copy()
        # the outline's pixels are blends with the sheet's background: give them the object's
        # own color, so no halo of that background comes along
        core = ndimage.binary_erosion(crop_mask)
        if core.any():
            rim = crop_mask & ~core
            crop_rgb[rim] = np.median(crop_rgb[core], axis=0).astype(np.uint8)
        patch = PILImage.fromarray(crop_rgb).resize((X1 - X0, Y1 - Y0), PILImage.LANCZOS)
        mask_img = PILImage.fromarray((crop_mask * 255).astype(np.uint8))
        resample = PILImage.BOX if (X1 - X0) <= (src[2] - src[0]) else PILImage.BILINEAR
        alpha = np.asarray(mask_img.resize((X1 - X0, Y1 - Y0), resample), np.float32) / 255.0
        rgb = np.asarray(patch.convert("RGB"), np.float32)
        # clip to the image
        cx0, cy0, cx1, cy1 = max(0, X0), max(0, Y0), min(w, X1), min(h, Y1)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        a = alpha[cy0 - Y0:cy1 - Y0, cx0 - X0:cx1 - X0]
        c = rgb[cy0 - Y0:cy1 - Y0, cx0 - X0:cx1 - X0]
        z = layout.objects[instance].z
        front = np.zeros((cy1 - cy0, cx1 - cx0), bool)
        for other, mask in owners.items():
            if other in redrawn or other not in layout.objects or layout.objects[other].z <= z:
                continue
            front |= mask[cy0:cy1, cx0:cx1]
        # over a like-colored object (a brown cross inside a brown diamond) the two would be one
        # blob of pixels: an outline of the sheet's background, a pixel wide, keeps them apart
        if any(o != instance and o in layout.boxes and (layout.objects[o].attributes or {}).get("color") == color
               and _near(layout.boxes[o], layout.boxes[instance], 0.0) for o in layout.objects):
            core = a >= 0.5
            ring = ndimage.binary_dilation(core, iterations=OUTLINE) & ~core
            border = np.concatenate([np.asarray(sheet_image)[0], np.asarray(sheet_image)[-1],
                                     np.asarray(sheet_image)[:, 0], np.asarray(sheet_image)[:, -1]])
            c = np.where(ring[..., None], np.median(border, axis=0)[None, None, :].astype(np.float32), c)
            a = np.where(ring, 1.0, a)
        a = np.where(front, 0.0, a)
        region = pixels[cy0:cy1, cx0:cx1].astype(np.float32)
        blended = region * (1 - a[..., None]) + c * a[..., None]
        pixels[cy0:cy1, cx0:cx1] = np.where(a[..., None] > 0, np.clip(np.rint(blended), 0, 255), region).astype(np.uint8)
        alpha_total[cy0:cy1, cx0:cx1] = np.maximum(alpha_total[cy0:cy1, cx0:cx1], a)
    changed = alpha_total > 0
    original = np.asarray(image.convert("RGB"))
    pixels = np.where(changed[..., None], pixels, original)  # byte-identical outside the mask
    out = PILImage.fromarray(pixels.astype(np.uint8))
    mask_out = PILImage.fromarray(np.clip(np.rint(alpha_total * 255), 0, 255).astype(np.uint8))
    return out, mask_out, {"sheets": len(sheets), "drawn": drawn, "missed": [i for i in targets if i not in sprites],
                           "seconds": time.perf_counter() - start}
