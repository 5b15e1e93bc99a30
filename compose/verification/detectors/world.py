"""The embedded world's detector: classical vision over a known palette and known shapes.

The embedded world draws shapes (:data:`~compose.vocabulary.SHAPES`) in the vocabulary's
colors (:data:`compose.vocabulary.COLORS`) over background tones chosen far from every color, so
objects are found without learning anything:

1. every pixel is labelled with its nearest tone among the object colors, the world's background
   tones and the image's own border tone (the median of its edge pixels, which follows a
   diffusion sample's drift). A pixel far from every tone is an anti-aliased edge, a blend of
   two tones: it lies near the segment between them, and the position along it says how much
   of the pixel each covers; it goes to the one covering at least half (the renderer's rule);
2. per color, connected components; a component survives when it has pixels left after a 2 x 2
   opening (slivers of blended edges do not) and at least ``min_area`` pixels;
3. each component's holes are filled (an object drawn *inside* another leaves a hole), its box is
   refined to a fraction of a pixel from the coverage of its edge lines, and its shape is the
   one whose drawing (the renderer's own, at 4x, box-filtered) best matches its coverage (soft
   IoU). When no shape fits clearly, the two best are refitted: grown evenly (thin star tips
   lose their edge pixels), and, where the object touches others that may hide it, moved side
   by side into the hiding pixels, which count for nothing; so a partly hidden object gets the
   box and shape of the whole object;
4. the color is the nearest vocabulary color of the median of its inner pixels
   (:func:`compose.verification.color.palette_color`).

Two same-colored objects that overlap merge into one component; the detector then sees one
object (measured in ``benchmarks/bench_verify.py``).

Examples
--------
>>> from compose.layouts import Layout, Region
>>> from compose.world.draw import render_layout
>>> lay = Layout(canvas=(64, 64), boxes={"s#0": (0.1, 0.1, 0.4, 0.4), "t#0": (0.55, 0.5, 0.9, 0.9)},
...              objects={"s#0": Region(phrase="a blue star", **{"class": "star"}, attributes={"color": "blue"}),
...                       "t#0": Region(phrase="a red triangle", **{"class": "triangle"}, attributes={"color": "red"})})
>>> found = WorldDetector().detect(render_layout(lay).image)
>>> sorted((d.class_name, d.color) for d in found)
[('star', 'blue'), ('triangle', 'red')]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compose.verification.color import palette_color
from compose.verification.detection import Detection, Detector, load_image
from compose.vocabulary import BACKGROUNDS, COLOR_NAMES, COLORS, SHAPES
from compose.world.draw import shape_coverage

_OBJECT_TONES = np.asarray([COLORS[c] for c in COLOR_NAMES], dtype=np.float32)
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
        Median-filter the image first (``"auto"``: when its border is noisy). Off by default:
        measured on renders with Gaussian noise (sigma 8), shapes stay 100% right unfiltered and
        drop to 87% filtered, which rounds corners and cuts star tips.
    refit_below : float
        Refit the box of a component whose best shape scores below this (soft IoU).
    blur : float or "auto"
        Gaussian blur (pixels) the shape drawings get before they are compared, as a diffusion
        model's softer edges need; ``"auto"`` measures it from the width of the image's edges.
    merge_above : float
        Two pieces of one color on either side of an object in front of them are one object
        when together they fit a shape at least this well.
    """

    name = "world"
    vocabulary = frozenset(SHAPES)

    def __init__(self, *, max_color_distance: float = 40.0, pure_distance: float = 30.0, min_area: int | None = None,
                 smooth: bool | str = False, refit_below: float = 0.95, blur: float | str = "auto",
                 merge_above: float = 0.88) -> None:
        self.max_color_distance = float(max_color_distance)
        self.pure_distance = float(pure_distance)
        self.min_area = min_area
        self.smooth = smooth
        self.refit_below = float(refit_below)
        self.blur = blur
        self.merge_above = float(merge_above)

    # 1. label pixels -------------------------------------------------------------------------
    def _labels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: the index of its object color (-1 for background and unknown), and each
        object color's coverage of it, ``(colors, h, w)`` in 0..1.

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
        coverage = np.zeros((n_objects, len(flat)), np.float32)
        pure_objects = np.flatnonzero(pure & (nearest < n_objects))
        coverage[nearest[pure_objects], pure_objects] = 1.0
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
                for ends, share in ((a_idx[k], 1.0 - chosen_t), (b_idx[k], chosen_t)):
                    counted = fits & (ends < n_objects)
                    coverage[ends[counted], blended[counted]] = share[counted]
        labels = np.where(pure | (labels >= 0), labels, -1)
        return labels.reshape(pixels.shape[:2]), coverage.reshape(n_objects, *pixels.shape[:2])

    def _blur_sigma(self, labels: np.ndarray, coverage: np.ndarray) -> float:
        """How blurred the image is (Gaussian sigma, pixels), from how wide its edges are: the
        partly covered pixels per pixel of outline, mapped through a table measured on renders
        blurred by known amounts (with noise of sigma 6): 0.8 or less is sharp."""
        from scipy import ndimage

        mask = labels >= 0
        outline = int((mask & ~ndimage.binary_erosion(mask)).sum())
        if outline == 0:
            return 0.0
        best = coverage.max(axis=0)
        ratio = float(((best > 0.1) & (best < 0.9)).sum()) / outline
        return float(np.interp(ratio, _EDGE_RATIO, _EDGE_SIGMA))

    def _noisy(self, pixels: np.ndarray) -> bool:
        edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        steps = np.abs(np.diff(edge.astype(np.float32), axis=0)).mean()
        return bool(steps > 6.0)

    def detect(self, image, classes: Sequence[str] | None = None, *,
               expected: Sequence[tuple[tuple[float, float, float, float], str | None]] | None = None) -> list[Detection]:
        """Detect every shape in ``image`` (a PIL image, path or array); ``classes`` filters.

        ``expected`` lists ``(box, color)`` pairs the caller expects (a layout's boxes,
        normalised): a blob of one color over two or more of them is split along them when
        the parts fit shapes clearly better (see :meth:`_split_by_expected`); nothing else
        uses them, so they cannot make a missing object appear.
        """
        from scipy import ndimage

        rgb = np.asarray(load_image(image), dtype=np.float32)
        h, w = rgb.shape[:2]
        expected_px = [((b[0] * w, b[1] * h, b[2] * w, b[3] * h), c) for b, c in (expected or [])]
        if self.smooth is True or (self.smooth == "auto" and self._noisy(rgb)):
            rgb = ndimage.median_filter(rgb, size=(3, 3, 1))
        labels, coverage = self._labels(rgb)
        min_area = self.min_area if self.min_area is not None else max(4, round(0.003 * h * w))

        sigma = self._blur_sigma(labels, coverage) if self.blur == "auto" else float(self.blur)

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
            pure = core & (coverage[color_index] >= 0.999)
            for k, where in enumerate(ndimage.find_objects(labelled), start=1):
                if where is None or k not in kept:
                    continue
                mask = labelled[where] == k
                if mask.sum() < min_area:
                    continue
                parts = self._split_touching(mask, pure[where], where, coverage[color_index], min_area, sigma)
                if len(parts) == 1 and expected:
                    here = [b for b, c in expected_px if c in (None, COLOR_NAMES[color_index])
                            and _box_share(b, where) >= 0.5]
                    if len(here) >= 2:
                        parts = self._split_by_expected(mask, where, coverage[color_index], here, min_area, sigma)
                for part, part_where in parts:
                    components.append((int(color_index), part, part_where))

        # everything below works in each component's box grown by a pixel: cheap on large images
        full_masks, filled_masks, grown = [], [], []
        for _, mask, where in components:
            full = np.zeros((h, w), bool)
            full[where] = mask
            filled = np.zeros((h, w), bool)
            filled[where] = ndimage.binary_fill_holes(mask)
            full_masks.append(full)
            filled_masks.append(filled)
            grown.append((slice(max(where[0].start - 1, 0), where[0].stop + 1),
                          slice(max(where[1].start - 1, 0), where[1].stop + 1)))

        # 3. shapes, boxes ---------------------------------------------------------------------------
        fits, touches, hiders = [], [], []
        for i, (color_index, mask, where) in enumerate(components):
            full, filled = full_masks[i], filled_masks[i]
            # pixels that may hide this object: those of the objects it touches, except one it
            # lies inside of
            near = grown[i]
            rim = ndimage.binary_dilation(filled[near]) & ~filled[near]
            touching = set()
            for j, other in enumerate(full_masks):
                if j == i or not _overlaps(grown[j], near):
                    continue
                if (rim & other[near]).sum() >= 2 and not (filled_masks[j][where] & mask).sum() >= 0.9 * mask.sum():
                    touching.add(j)
            hidden = np.zeros((h, w), bool)
            for j in touching:
                hidden |= full_masks[j]
            hidden &= ~filled
            alpha = np.where(filled & ~full, 1.0, coverage[color_index])  # holes: objects inside it
            alpha[hidden] = 0.0
            box_px = (float(where[1].start), float(where[0].start), float(where[1].stop), float(where[0].stop))
            fits.append(self._fit_shape(alpha, hidden, box_px, sigma))
            touches.append(touching)
            hiders.append(hidden)

        # an object cut in two by one in front of it: two pieces of a color around a common
        # neighbour that together fit one shape well, with the neighbour's pixels hidden
        gone: set[int] = set()
        entries = [(components[i][0], full_masks[i], components[i][2], fits[i]) for i in range(len(components))]
        for i in range(len(components)):
            for j in range(i + 1, len(components)):
                if i in gone or j in gone or components[i][0] != components[j][0]:
                    continue
                shared = touches[i] & touches[j]
                if not shared:
                    continue
                union = full_masks[i] | full_masks[j]
                filled = ndimage.binary_fill_holes(union)
                hidden = np.zeros((h, w), bool)
                for k in shared:
                    hidden |= full_masks[k]
                hidden &= ~filled
                alpha = np.where(filled & ~union, 1.0, coverage[components[i][0]])
                alpha[hidden] = 0.0
                ys, xs = np.nonzero(union)
                box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
                fit = self._fit_shape(alpha, hidden, box, sigma)
                if fit[1] >= self.merge_above:
                    gone.update((i, j))
                    where = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
                    entries.append((components[i][0], union, where, fit))

        # 4. colors ---------------------------------------------------------------------------------
        detections = []
        for k, (color_index, full, where, (shape, iou, box_px)) in enumerate(entries):
            if k in gone:
                continue
            color, color_score = palette_color(rgb[where], full[where])
            if classes is not None and shape not in classes:
                continue
            x0, y0, x1, y1 = box_px
            whole = shape_coverage(shape, box_px, (w, h)) >= 0.5
            detections.append(Detection(box=(max(0.0, x0 / w), max(0.0, y0 / h), min(1.0, x1 / w), min(1.0, y1 / h)),
                                        class_name=shape, score=round(iou, 4), mask=full, color=color,
                                        color_score=round(color_score, 4), whole=whole | full))
        detections.sort(key=lambda d: -d.score)
        return detections

    def _split_touching(self, mask: np.ndarray, pure: np.ndarray, where: tuple[slice, slice], coverage: np.ndarray,
                        min_area: int, sigma: float = 0.0) -> list[tuple[np.ndarray, tuple[slice, slice]]]:
        """Split a component that is two or more like-colored objects touching edge to edge.

        Where two objects of one color meet, the pixels of the seam are partly covered (a hair
        of background between the boxes), so the fully covered pixels fall apart into one core
        per object. Each core of at least ``min_area / 2`` pixels seeds a part and every pixel
        goes to its nearest seed. The split stands only when the parts fit shapes clearly better
        than the whole (each at least 0.75, on average 0.1 better), so noise that breaks a core
        does not break an object.
        """
        from scipy import ndimage

        cores, n = ndimage.label(pure & mask)
        if n < 2:
            return [(mask, where)]
        sizes = ndimage.sum_labels(np.ones_like(cores), cores, index=np.arange(1, n + 1))
        seeds = [k + 1 for k, size in enumerate(sizes) if size >= max(4, min_area / 2)]
        if len(seeds) < 2:
            return [(mask, where)]
        seeded = np.where(np.isin(cores, seeds), cores, 0)
        _, (iy, ix) = ndimage.distance_transform_edt(seeded == 0, return_indices=True)
        return self._accept_split(mask, where, coverage, seeded[iy, ix], seeds, min_area, sigma)

    def _split_by_expected(self, mask: np.ndarray, where: tuple[slice, slice], coverage: np.ndarray,
                           boxes: list[tuple[float, float, float, float]], min_area: int,
                           sigma: float = 0.0) -> list[tuple[np.ndarray, tuple[slice, slice]]]:
        """Split a component over the boxes the caller expects there (a layout's, in pixels):
        shapes of one color that overlap or touch without a seam are one blob of pixels, and the
        expected boxes are a hypothesis of where each is. Each pixel goes to the box that
        contains it (the nearest centre among several, or none); the split stands only when the
        parts fit shapes clearly better than the whole, as in :meth:`_split_touching`.
        """
        y0, x0 = where[0].start, where[1].start
        ys, xs = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
        px, py = xs + x0 + 0.5, ys + y0 + 0.5
        cost = []
        for bx0, by0, bx1, by1 in boxes:
            inside = (px >= bx0) & (px < bx1) & (py >= by0) & (py < by1)
            centre = np.hypot((px - (bx0 + bx1) / 2) / max(bx1 - bx0, 1e-6), (py - (by0 + by1) / 2) / max(by1 - by0, 1e-6))
            cost.append(np.where(inside, 0.0, 10.0) + centre)
        owner = np.argmin(np.stack(cost), axis=0) + 1
        return self._accept_split(mask, where, coverage, owner, list(range(1, len(boxes) + 1)), min_area, sigma)

    def _accept_split(self, mask: np.ndarray, where: tuple[slice, slice], coverage: np.ndarray, owner: np.ndarray,
                      labels: list[int], min_area: int, sigma: float) -> list[tuple[np.ndarray, tuple[slice, slice]]]:
        """The parts ``owner`` (one label per pixel of the crop) cuts ``mask`` into, when each fits
        a shape at least 0.75 and on average 0.1 better than the whole does; else the whole."""
        from scipy import ndimage

        h, w = coverage.shape
        none = np.zeros((h, w), bool)

        def fit(region: np.ndarray, box: tuple[slice, slice]) -> float:
            alpha = np.zeros((h, w), np.float32)
            crop = coverage[where] * region
            alpha[where] = np.where(ndimage.binary_fill_holes(mask & region) & ~(mask & region), 1.0, crop)
            return self._fit_shape(alpha, none, (float(box[1].start), float(box[0].start),
                                                 float(box[1].stop), float(box[0].stop)), sigma)[1]

        whole = fit(np.ones_like(mask), where)
        parts, scores = [], []
        for label in labels:
            part = mask & (owner == label)
            ys, xs = np.nonzero(part)
            if len(ys) < min_area:
                return [(mask, where)]
            box = (slice(where[0].start + ys.min(), where[0].start + ys.max() + 1),
                   slice(where[1].start + xs.min(), where[1].start + xs.max() + 1))
            scores.append(fit(owner == label, box))
            parts.append((part[ys.min():ys.max() + 1, xs.min():xs.max() + 1], box))
        if min(scores) >= 0.75 and sum(scores) / len(scores) >= whole + 0.1:
            return parts
        return [(mask, where)]

    def _fit_shape(self, alpha: np.ndarray, hidden: np.ndarray, box_px: tuple[float, float, float, float],
                   sigma: float = 0.0) -> tuple[str, float, tuple[float, float, float, float]]:
        """The shape and box whose drawing best matches the coverage ``alpha`` (soft IoU).

        Every shape is scored in the component's pixel box; when the best is not clearly right,
        the two best are refitted by moving each side in steps of 2, 1 and 0.5 pixels while the
        score improves. Thin tips (a star's) lose their edge pixels, and a hidden part of an
        object is free to cover, so the refit box is the whole object's.
        """
        h, w = alpha.shape
        x0, y0, x1, y1 = box_px
        margin = max(3.0, 0.6 * max(x1 - x0, y1 - y0)) if hidden.any() else 3.0
        window = (int(max(0, x0 - margin)), int(max(0, y0 - margin)), int(min(w, x1 + margin)), int(min(h, y1 + margin)))
        cx0, cy0, cx1, cy1 = window
        a = alpha[cy0:cy1, cx0:cx1]
        hid = hidden[cy0:cy1, cx0:cx1]
        start = _subpixel_box(a, (int(x0) - cx0, int(y0) - cy0, int(x1) - cx0, int(y1) - cy0))
        candidates = SHAPES
        if not hid.any() and sigma < 0.3:
            # a shape fills a known share of its box; those far from the observed share cannot fit
            fill = float(a.sum()) / max((start[2] - start[0]) * (start[3] - start[1]), 1e-6)
            candidates = tuple(s for s in SHAPES if abs(_FILL[s] - fill) <= 0.2) or SHAPES
            if len(candidates) == 1:
                candidates = candidates + tuple(s for s in sorted(SHAPES, key=lambda s: abs(_FILL[s] - fill))[1:2])
        scores = {s: _soft_iou(a, hid, s, start, sigma) for s in candidates}
        ranked = sorted(candidates, key=lambda s: -scores[s])
        best_shape, best_score, best_box = ranked[0], scores[ranked[0]], start
        clear = scores[ranked[0]] - scores[ranked[1]] > 0.15 and not hid.any()
        if best_score < self.refit_below and not clear:
            # the runner-up is refitted too only when it is close
            # partly hidden shapes are judged on too little at first: give more of them a refit
            contenders = ([s for s in ranked[:4] if scores[s] >= best_score - 0.3] if hid.any()
                          else [s for s in ranked[:2] if scores[s] >= best_score - 0.15])
            for shape in contenders:
                box, score = self._refit(a, hid, shape, start, scores[shape], sigma)
                if score > best_score:
                    best_shape, best_score, best_box = shape, score, box
        bx0, by0, bx1, by1 = best_box
        return best_shape, best_score, (bx0 + cx0, by0 + cy0, bx1 + cx0, by1 + cy0)

    @staticmethod
    def _refit(a: np.ndarray, hid: np.ndarray, shape: str, start: tuple[float, ...], score: float,
               sigma: float = 0.0) -> tuple[tuple[float, ...], float]:
        """A better box for ``shape``: grown evenly (edge pixels of thin tips fall under half
        coverage and are lost), then, next to other objects, side by side into what hides it."""
        h, w = a.shape
        box = tuple(start)
        for grow in (0.5, 1.0, 1.5, -0.5, -1.0):
            trial = (max(0.0, start[0] - grow), max(0.0, start[1] - grow), min(w, start[2] + grow), min(h, start[3] + grow))
            if trial[2] - trial[0] < 2 or trial[3] - trial[1] < 2:
                continue
            value = _soft_iou(a, hid, shape, trial, sigma)
            if value > score + 1e-4:
                box, score = trial, value
        if not hid.any():
            return box, score
        current = list(box)
        for step in (2.0, 1.0, 0.5):
            improved = True
            while improved:
                improved = False
                for side, sign in ((0, -1), (1, -1), (2, 1), (3, 1), (0, 1), (1, 1), (2, -1), (3, -1)):
                    trial = list(current)
                    trial[side] += sign * step
                    if not (0 <= trial[0] < trial[2] <= w and 0 <= trial[1] < trial[3] <= h):
                        continue
                    if trial[2] - trial[0] < 2 or trial[3] - trial[1] < 2:
                        continue
                    value = _soft_iou(a, hid, shape, tuple(trial), sigma)
                    if value > score + 1e-4:
                        current, score, improved = trial, value, True
        return tuple(current), score


#: The share of its box each shape fills, as the renderer draws it.
_FILL = {"circle": 0.785, "square": 1.0, "triangle": 0.5, "star": 0.387, "diamond": 0.502, "cross": 0.558}

#: Partly covered pixels per outline pixel (median over renders) against the Gaussian blur that
#: made them; measured on separated renders at 64 x 64 with pixel noise of sigma 6.
_EDGE_RATIO = (0.80, 0.93, 1.35, 1.83, 2.40, 3.15)
_EDGE_SIGMA = (0.0, 0.4, 0.6, 0.8, 1.0, 1.3)


def _box_share(box: tuple[float, float, float, float], where: tuple[slice, slice]) -> float:
    """The share of ``box`` (pixels) inside the slice box ``where``."""
    x0, y0, x1, y1 = box
    iw = max(0.0, min(x1, where[1].stop) - max(x0, where[1].start))
    ih = max(0.0, min(y1, where[0].stop) - max(y0, where[0].start))
    return iw * ih / max((x1 - x0) * (y1 - y0), 1e-9)


def _overlaps(a: tuple[slice, slice], b: tuple[slice, slice]) -> bool:
    return a[0].start < b[0].stop and b[0].start < a[0].stop and a[1].start < b[1].stop and b[1].start < a[1].stop


def _subpixel_box(alpha: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """The pixel box refined to a fraction of a pixel from the coverage of its edge lines: an
    edge lies as far into its outermost line of pixels as that line is covered (a line just
    outside that is partly covered moves it out).

    >>> a = np.zeros((6, 6), np.float32); a[1:5, 1:5] = 1.0; a[1:5, 5] = 0.25; a[1:5, 1] = 0.5
    >>> _subpixel_box(a, (1, 1, 5, 5))
    (1.5, 1.0, 5.25, 5.0)
    """
    h, w = alpha.shape
    x0, y0, x1, y1 = box
    rows, cols = slice(y0, y1), slice(x0, x1)

    def edge(outside: np.ndarray, inside: np.ndarray, at: int, direction: int) -> float:
        out = float(outside.max()) if outside.size else 0.0
        inn = float(inside.max()) if inside.size else 1.0
        if out > 0.02:
            return at - direction * out
        return at + direction * (1.0 - inn)

    left = edge(alpha[rows, x0 - 1] if x0 > 0 else np.empty(0), alpha[rows, x0], x0, 1)
    top = edge(alpha[y0 - 1, cols] if y0 > 0 else np.empty(0), alpha[y0, cols], y0, 1)
    right = edge(alpha[rows, x1] if x1 < w else np.empty(0), alpha[rows, x1 - 1], x1, -1)
    bottom = edge(alpha[y1, cols] if y1 < h else np.empty(0), alpha[y1 - 1, cols], y1, -1)
    if right - left < 1 or bottom - top < 1:
        return float(x0), float(y0), float(x1), float(y1)
    return left, top, right, bottom


def _soft_iou(alpha: np.ndarray, hidden: np.ndarray, shape: str, box: tuple[float, float, float, float],
              sigma: float = 0.0) -> float:
    """Soft IoU of a template's coverage (blurred by ``sigma`` pixels, as the image is) with
    the observed coverage ``alpha``; pixels hidden by other objects count for neither."""
    tau = shape_coverage(shape, box, (alpha.shape[1], alpha.shape[0]))
    if sigma > 0.05:
        from scipy import ndimage

        tau = ndimage.gaussian_filter(tau, sigma, mode="constant")
    seen = ~hidden
    inter = np.minimum(alpha, tau)[seen].sum()
    union = np.maximum(alpha, tau)[seen].sum()
    return float(inter / union) if union > 0 else 0.0
