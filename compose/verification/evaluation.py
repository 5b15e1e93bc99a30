"""Measuring a detector against the procedural renderer's ground truth.

:func:`score_detections` matches detections to the objects a render drew (an optimal assignment
on box IoU) and counts what a verifier needs right: how many objects, their shapes, their colors
and their boxes. :func:`evaluate_world_detector` runs it over many seeded renders; the tests and
``benchmarks/bench_verify.py`` keep its figures as thresholds.

Examples
--------
>>> from compose.world.dataset import heldout_layouts
>>> from compose.verification.detectors.world import WorldDetector
>>> figures = evaluate_world_detector(WorldDetector(), heldout_layouts(3))
>>> figures["renders"], figures["objects"] > 0
(3, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from compose.boxes import Box
from compose.boxes import iou as box_iou


@dataclass
class RenderScore:
    """How one render's detections compare with what was drawn."""

    expected: int
    found: int
    matched: int
    shapes_right: int
    colors_right: int
    ious: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def count_right(self) -> bool:
        return self.expected == self.found


def score_detections(detections, rendered, *, iou_threshold: float = 0.5, min_visible: float = 0.003) -> RenderScore:
    """Compare ``detections`` with a :class:`~compose.world.draw.RenderedScene`.

    Objects whose visible mask covers less than ``min_visible`` of the image are not expected
    (too little of them can be seen; the world detector's own ``min_area`` is the same 0.3%). A detection matches an object when the optimal assignment on box IoU pairs
    them with IoU at least ``iou_threshold``.
    """
    from scipy.optimize import linear_sum_assignment

    h, w = next(iter(rendered.masks.values())).shape if rendered.masks else (1, 1)
    truth = [o for o in rendered.objects if rendered.masks[o.instance].sum() >= max(4, round(min_visible * h * w))]
    score = RenderScore(expected=len(truth), found=len(detections), matched=0, shapes_right=0, colors_right=0)
    if truth and detections:
        iou = np.array([[box_iou(o.box, d.box) for d in detections] for o in truth])
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] < iou_threshold:
                continue
            score.matched += 1
            score.ious.append(float(iou[r, c]))
            score.shapes_right += detections[c].class_name == truth[r].shape
            score.colors_right += detections[c].color == truth[r].color
            if detections[c].class_name != truth[r].shape or detections[c].color != truth[r].color:
                score.misses.append(f"{truth[r].color} {truth[r].shape} seen as "
                                    f"{detections[c].color} {detections[c].class_name}")
    if score.matched < score.expected:
        score.misses.append(f"{score.expected - score.matched} of {score.expected} objects unmatched")
    return score


def separated_layouts(n: int, *, seed: int = 0, objects: tuple[int, int] = (1, 6),
                      canvas: tuple[int, int] = (64, 64)) -> list:
    """``n`` seeded random layouts of shapes that do not overlap (the solver's default for
    distinct objects): 1-6 shapes of random shape, color and size (0.14-0.42 of the side),
    on a random background tone.

    >>> lays = separated_layouts(2, seed=1)
    >>> len(lays), lays == separated_layouts(2, seed=1)
    (2, True)
    """
    from compose.layouts import Layout, Region
    from compose.vocabulary import BACKGROUNDS, COLOR_NAMES, SHAPES

    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        count = int(rng.integers(objects[0], objects[1] + 1))
        boxes: dict[str, Box] = {}
        regions = {}
        for k in range(count):
            for _ in range(200):
                side = rng.uniform(0.14, 0.42 if count <= 4 else 0.3)
                aspect = float(np.exp(rng.uniform(-0.25, 0.25)))
                w, h = min(0.9, side * aspect), min(0.9, side / aspect)
                x0, y0 = rng.uniform(0.02, 0.98 - w), rng.uniform(0.02, 0.98 - h)
                box = (round(x0, 4), round(y0, 4), round(x0 + w, 4), round(y0 + h, 4))
                if all(box[2] + 0.02 <= b[0] or b[2] + 0.02 <= box[0] or box[3] + 0.02 <= b[1]
                       or b[3] + 0.02 <= box[1] for b in boxes.values()):
                    break
            else:
                continue
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
            name = f"{shape}{k}#0"
            boxes[name] = box
            regions[name] = Region(phrase=f"a {color} {shape}", attributes={"color": color}, **{"class": shape})
        background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
        out.append(Layout(canvas=canvas, boxes=boxes, objects=regions, background=background, seed=i))
    return out


def evaluate_world_detector(detector, layouts: Iterable, *, size: tuple[int, int] | None = None) -> dict:
    """Render each layout exactly, detect, and sum the figures over all renders.

    Returns a dict: ``renders``, ``objects``, ``count_accuracy`` (renders whose number of
    detections equals the number of visible objects), ``recall`` (objects matched at IoU 0.5),
    ``shape_accuracy`` and ``color_accuracy`` (over matched objects), ``mean_iou`` and ``misses``.
    """
    from compose.world.draw import render_layout

    scores = []
    for layout in layouts:
        rendered = render_layout(layout, size)
        scores.append(score_detections(detector.detect(rendered.image), rendered))
    objects = sum(s.expected for s in scores)
    matched = sum(s.matched for s in scores)
    ious = [v for s in scores for v in s.ious]
    return {
        "renders": len(scores),
        "objects": objects,
        "count_accuracy": sum(s.count_right for s in scores) / max(len(scores), 1),
        "recall": matched / max(objects, 1),
        "shape_accuracy": sum(s.shapes_right for s in scores) / max(matched, 1),
        "color_accuracy": sum(s.colors_right for s in scores) / max(matched, 1),
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
        "misses": [m for s in scores for m in s.misses],
    }
