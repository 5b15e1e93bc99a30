"""The embedded world's detector: classical vision over a known palette and known shapes.

The embedded world draws shapes (:data:`~compose.world.vocabulary.SHAPES`) in the vocabulary's
colors (:data:`compose.vocabulary.COLORS`) over background tones chosen far from every color, so
objects are found without learning anything:

1. every pixel is labelled with its nearest tone among the object colors, the world's background
   tones and the image's own border tone (the median of its edge pixels, which follows a
   diffusion sample's drift); noisy images are median-filtered first;
2. per color, connected components; anti-aliased edges between two tones can look like a third
   color, but only as one-pixel-thin slivers, so a component survives only when it has pixels
   left after a 2 x 2 opening and at least ``min_area`` pixels;
3. each component's holes are filled (an object drawn *inside* another leaves a hole) and its
   shape is the template of :func:`compose.world.render.shape_mask` that overlaps it best (IoU)
   in its box. Pixels of other objects count as unknown: an object partly hidden *behind*
   another is fitted with its box grown, side by side, into the pixels that hide it, so its box
   and shape are those of the whole object;
4. the color is the nearest vocabulary color of the median of its inner pixels
   (:func:`compose.verify.color.palette_color`).

Examples
--------
>>> from compose.layout import Layout, Region
>>> from compose.world.render import render_layout
>>> lay = Layout(canvas=(64, 64), boxes={"s#0": (0.1, 0.1, 0.4, 0.4), "t#0": (0.55, 0.5, 0.9, 0.9)},
...              objects={"s#0": Region(phrase="a blue star", **{"class": "star"}, attributes={"color": "blue"}),
...                       "t#0": Region(phrase="a red triangle", **{"class": "triangle"}, attributes={"color": "red"})})
>>> found = WorldDetector().detect(render_layout(lay).image)
>>> sorted((d.class_name, d.color) for d in found)
[('star', 'blue'), ('triangle', 'red')]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from compose.verify.color import palette_color
from compose.verify.detection import Detection, Detector, load_image
from compose.vocabulary import COLORS
from compose.world.vocabulary import BACKGROUNDS, SHAPES

_COLOR_NAMES = tuple(COLORS)
_OBJECT_TONES = np.asarray([COLORS[c] for c in _COLOR_NAMES], dtype=np.float32)
_BACKGROUND_TONES = np.asarray(list(BACKGROUNDS.values()), dtype=np.float32)


class WorldDetector(Detector):
    """Finds the embedded world's shapes with their boxes, colors and visible masks.

    Parameters
    ----------
    max_color_distance : float
        A pixel farther than this (RGB units) from every blend of two tones is left unlabelled.
    pure_distance : float
        A pixel this close to a tone takes it without looking at blends.
    min_area : int, optional
        Smallest component kept, in pixels (default: 0.3% of the image, at least 4).
    smooth : bool or "auto"
        Median-filter the image first; ``"auto"`` does so when the background is noisy.
    complete_occluded : bool
        Grow the boxes of partly hidden objects into the pixels that hide them.
    """

    name = "world"
    vocabulary = frozenset(SHAPES)

    def __init__(self, *, max_color_distance: float = 40.0, pure_distance: float = 30.0, min_area: int | None = None,
                 smooth: bool | str = "auto", complete_occluded: bool = True) -> None:
        self.max_color_distance = float(max_color_distance)
        self.pure_distance = float(pure_distance)
        self.min_area = min_area
        self.smooth = smooth
        self.complete_occluded = complete_occluded

    # 1. label pixels -------------------------------------------------------------------------
    def _labels(self, pixels: np.ndarray) -> np.ndarray:
        """Per pixel: the index of its object color, or -1 for background and unknown.

        Pixels near one tone take it. The rest are anti-aliased edges, blends of two tones: each
        goes to the nearer end of the tone pair whose segment passes closest to it, so an edge
        pixel belongs to an object when the object covers at least half of it.
        """
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        tones = np.concatenate([_OBJECT_TONES, _BACKGROUND_TONES, np.median(border, axis=0)[None, :]])
        n_objects = len(_OBJECT_TONES)
        flat = pixels.reshape(-1, 3)
        # squared distances without an (n, k, 3) temporary: |p|^2 - 2 p.t + |t|^2
        d2 = (flat * flat).sum(1)[:, None] - 2.0 * flat @ tones.T + (tones * tones).sum(1)[None, :]
        nearest = d2.argmin(axis=1)
        best = d2[np.arange(len(flat)), nearest]
        labels = np.where(nearest < n_objects, nearest, -1)
        pure = best <= self.pure_distance ** 2
        blended = np.flatnonzero(~pure)
        if len(blended):
            present = np.unique(nearest[pure]) if pure.any() else np.arange(len(tones))
            present = np.union1d(present, [len(tones) - 1])
            pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]
                     if a < n_objects or b < n_objects]
            if pairs:
                p = flat[blended]
                a_idx = np.array([a for a, _ in pairs])
                b_idx = np.array([b for _, b in pairs])
                ta, tb = tones[a_idx], tones[b_idx]  # (m, 3)
                seg = tb - ta
                t = ((p[:, None, :] - ta[None]) * seg[None]).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-6)[None]
                t = np.clip(t, 0.0, 1.0)
                residual = np.linalg.norm(p[:, None, :] - (ta[None] + t[..., None] * seg[None]), axis=-1)
                k = residual.argmin(axis=1)
                chosen_t = t[np.arange(len(p)), k]
                # ties go to the object: the ground truth counts a half-covered pixel as covered
                a_wins = np.where(a_idx[k] < n_objects, chosen_t <= 0.51, chosen_t < 0.49)
                owner = np.where(a_wins, a_idx[k], b_idx[k])
                fits = residual[np.arange(len(p)), k] <= self.max_color_distance
                labels[blended] = np.where(fits & (owner < n_objects), owner, -1)
        return labels.reshape(pixels.shape[:2])

    def _noisy(self, pixels: np.ndarray) -> bool:
        edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        steps = np.abs(np.diff(edge.astype(np.float32), axis=0)).mean()
        return bool(steps > 6.0)

    def detect(self, image, classes: Sequence[str] | None = None) -> list[Detection]:
        """Detect every shape in ``image`` (a PIL image, path or array); ``classes`` filters."""
        from scipy import ndimage

        rgb = np.asarray(load_image(image), dtype=np.float32)
        h, w = rgb.shape[:2]
        if self.smooth is True or (self.smooth == "auto" and self._noisy(rgb)):
            rgb = ndimage.median_filter(rgb, size=(3, 3, 1))
        labels = self._labels(rgb)
        min_area = self.min_area if self.min_area is not None else max(4, round(0.003 * h * w))

        # 2. components per color ---------------------------------------------------------------
        components: list[tuple[int, np.ndarray, tuple[slice, slice]]] = []
        eight = np.ones((3, 3), bool)
        for color_index in np.unique(labels):
            if color_index < 0:
                continue
            raw = labels == color_index
            core = ndimage.binary_opening(raw, structure=np.ones((2, 2), bool))
            labelled, n = ndimage.label(raw, structure=eight)
            if n == 0:
                continue
            kept = np.unique(labelled[core])
            for k, where in enumerate(ndimage.find_objects(labelled), start=1):
                if where is None or k not in kept:
                    continue
                mask = labelled[where] == k
                if mask.sum() < min_area:
                    continue
                components.append((int(color_index), mask, where))

        full_masks = []
        for _, mask, where in components:
            full = np.zeros((h, w), bool)
            full[where] = mask
            full_masks.append(full)

        # 3. shapes, boxes; 4. colors ---------------------------------------------------------------
        filled_masks = [ndimage.binary_fill_holes(full) for full in full_masks]
        detections = []
        for i, ((color_index, mask, where), full) in enumerate(zip(components, full_masks)):
            filled = filled_masks[i]
            # pixels that may hide this object: other objects', except one it lies inside of
            unknown = np.zeros((h, w), bool)
            for j, other in enumerate(full_masks):
                if j != i and not (filled_masks[j] & full).sum() >= 0.9 * full.sum():
                    unknown |= other
            unknown &= ~filled
            box_px = (where[1].start, where[0].start, where[1].stop, where[0].stop)
            shape, iou, box_px = self._fit_shape(filled, unknown, box_px)
            color, color_score = palette_color(rgb, full)
            if classes is not None and shape not in classes:
                continue
            x0, y0, x1, y1 = box_px
            detections.append(Detection(box=(x0 / w, y0 / h, x1 / w, y1 / h), class_name=shape,
                                        score=round(iou, 4), mask=full, color=color,
                                        color_score=round(color_score, 4)))
        detections.sort(key=lambda d: -d.score)
        return detections

    def _fit_shape(self, filled: np.ndarray, unknown: np.ndarray,
                   box_px: tuple[int, int, int, int]) -> tuple[str, float, tuple[int, int, int, int]]:
        """Best template for the filled component; its box grown into ``unknown`` pixels when
        that fits better."""
        best = max(((self._template_iou(filled, unknown, s, box_px), s) for s in SHAPES))
        iou, shape = best
        if not self.complete_occluded or not unknown.any() or iou > 0.97:
            return shape, iou, box_px
        h, w = filled.shape
        for candidate in SHAPES:
            box = list(box_px)
            score = self._template_iou(filled, unknown, candidate, tuple(box))
            improved = True
            while improved:
                improved = False
                for side, step, limit in ((0, -1, 0), (1, -1, 0), (2, 1, w), (3, 1, h)):
                    trial = list(box)
                    trial[side] += step
                    if not (0 <= trial[side] <= limit) or not self._touches(unknown, box, side):
                        continue
                    s = self._template_iou(filled, unknown, candidate, tuple(trial))
                    if s > score + 1e-6:
                        box, score, improved = trial, s, True
            if score > iou + 0.02:
                iou, shape, box_px = score, candidate, tuple(box)
        return shape, iou, box_px

    @staticmethod
    def _touches(unknown: np.ndarray, box: list[int], side: int) -> bool:
        """Whether the pixels just outside ``side`` of ``box`` include unknown (occluding) pixels."""
        x0, y0, x1, y1 = box
        if side == 0:
            strip = unknown[y0:y1, max(x0 - 1, 0):x0]
        elif side == 1:
            strip = unknown[max(y0 - 1, 0):y0, x0:x1]
        elif side == 2:
            strip = unknown[y0:y1, x1:x1 + 1]
        else:
            strip = unknown[y1:y1 + 1, x0:x1]
        return bool(strip.any())

    @staticmethod
    def _template_iou(filled: np.ndarray, unknown: np.ndarray, shape: str,
                      box_px: tuple[int, int, int, int]) -> float:
        from compose.world.render import shape_mask

        x0, y0, x1, y1 = box_px
        # compare inside a window around the box: a crop keeps this cheap on large images
        h, w = filled.shape
        cx0, cy0, cx1, cy1 = max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, w), min(y1 + 2, h)
        # drawn as the renderer draws: 4x supersampled, a pixel is in when half of it is covered
        ss = 4
        big = shape_mask(shape, ((x0 - cx0) * ss, (y0 - cy0) * ss, (x1 - cx0) * ss, (y1 - cy0) * ss),
                         ((cx1 - cx0) * ss, (cy1 - cy0) * ss))
        template = big.reshape(cy1 - cy0, ss, cx1 - cx0, ss).mean(axis=(1, 3)) >= 0.5
        seen = filled[cy0:cy1, cx0:cx1]
        hidden = unknown[cy0:cy1, cx0:cx1] & template
        inter = (template & seen).sum()
        union = (template | seen).sum() - hidden.sum()
        # pixels of the component outside the window count against the fit
        outside = filled.sum() - seen.sum()
        return float(inter / max(union + outside, 1))
