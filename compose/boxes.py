"""Boxes and their geometry: the one definition every stage shares.

A box is ``(x0, y0, x1, y1)`` with the origin at the top left; layouts hold them normalised to
0..1, detectors in pixels. Everything here works on either.

Examples
--------
>>> area((0, 0, 2, 3)), intersection_area((0, 0, 2, 2), (1, 1, 3, 3))
(6, 1)
>>> iou((0, 0, 2, 2), (1, 0, 3, 2))
0.333...
>>> union((0, 0, 1, 1), (2, 2, 3, 3))
(0, 0, 3, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Box = tuple[float, float, float, float]


def valid_box(box: Sequence[float]) -> bool:
    """Whether ``box`` is a non-empty box inside the unit square.

    >>> valid_box((0.1, 0.2, 0.5, 0.6)), valid_box((0.5, 0.2, 0.1, 0.6))
    (True, False)
    """
    x0, y0, x1, y1 = box
    return 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def area(box: Sequence[float]) -> float:
    """The area of a box (0 for an empty or inverted one)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection_area(a: Sequence[float], b: Sequence[float]) -> float:
    """The area of the intersection of two boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return width * height


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    inter = intersection_area(a, b)
    total = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / total) if total > 0 else 0.0


def union(a: Sequence[float], b: Sequence[float]) -> Box:
    """The smallest box holding both boxes."""
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def non_max_suppression(boxes: Any, scores: Any, threshold: float = 0.5) -> list[int]:
    """Indices of the boxes kept, best first: each box that overlaps a better kept one by an IoU
    of more than ``threshold`` is dropped.

    >>> non_max_suppression([(0, 0, 1, 1), (0, 0, 1, 0.9), (2, 2, 3, 3)], [0.9, 0.8, 0.7])
    [0, 2]
    """
    import numpy as np

    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    areas = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(int(i))
        if not order:
            break
        rest = np.asarray(order)
        iw = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        ih = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = [int(j) for j, o in zip(rest, overlap) if o <= threshold]
    return kept
