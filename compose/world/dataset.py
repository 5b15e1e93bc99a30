"""Random scenes of the embedded world, laid out, rendered and annotated in COCO format.

Two sources of layouts:

* :func:`random_layout` samples boxes directly (fast; it is what training draws on the fly):
  1-8 shapes of random colors and sizes, some placed inside others, some overlapping in front
  of or behind others, the rest apart;
* :func:`random_scene` builds a :class:`~compose.scene.Scene` with relation statements (every
  relation of the table) for :func:`compose.api.layout` to solve, used by ``compose world
  dataset`` when the layout solver is installed.

Everything takes a seed; the same seed gives the same bytes.

Examples
--------
>>> lay = random_layout(7, objects=(3, 3))
>>> len(lay.boxes), lay.seed
(3, 7)
>>> random_layout(7, objects=(3, 3)) == lay
True
"""

from __future__ import annotations

import numpy as np

from compose.layout import Layout, Region
from compose.world.vocabulary import BACKGROUNDS, COLOR_NAMES, SHAPES

#: Seeds of held-out layouts live in their own stream, apart from every training stream.
HELDOUT_STREAM = 982_451_653
TRAIN_STREAM = 179_424_673


def _region(shape: str, color: str, z: int) -> Region:
    return Region(phrase=f"a {color} {shape}", attributes={"color": color}, z=z, **{"class": shape})


def random_layout(seed: int | tuple[int, ...], *, objects: tuple[int, int] = (1, 8),
                  canvas: tuple[int, int] = (64, 64), stream: int = TRAIN_STREAM) -> Layout:
    """A random layout of shapes (boxes sampled directly, no solver).

    Parameters
    ----------
    seed : int or tuple of int
        Seeds the layout; with ``stream`` it selects one independent random stream.
    objects : (int, int)
        Inclusive range of the number of shapes.
    canvas : (int, int)
        The layout's canvas in pixels.
    stream : int
        :data:`TRAIN_STREAM` for training, :data:`HELDOUT_STREAM` for evaluation.
    """
    key = seed if isinstance(seed, tuple) else (seed,)
    rng = np.random.default_rng([stream, *key])
    n = int(rng.integers(objects[0], objects[1] + 1))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    regions: dict[str, Region] = {}
    zs: dict[str, int] = {}
    for i in range(n):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
        name = f"{shape}{i}#0"
        roll = rng.random()
        big = [k for k, b in boxes.items() if b[2] - b[0] >= 0.34 and b[3] - b[1] >= 0.34]
        if roll < 0.15 and big:  # inside an existing shape, drawn in front of it
            parent = big[int(rng.integers(len(big)))]
            px0, py0, px1, py1 = boxes[parent]
            side = rng.uniform(0.35, 0.5)
            w, h = side * (px1 - px0), side * (py1 - py0)
            cx = (px0 + px1) / 2 + rng.uniform(-0.1, 0.1) * (px1 - px0)
            cy = (py0 + py1) / 2 + rng.uniform(-0.05, 0.15) * (py1 - py0)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            z = zs[parent] + 1
        else:
            side = rng.uniform(0.14, 0.42 if n <= 4 else 0.32)
            aspect = float(np.exp(rng.uniform(-0.25, 0.25)))
            w, h = min(0.9, side * aspect), min(0.9, side / aspect)
            overlap = roll < 0.4 and boxes
            for _ in range(40):
                if overlap:  # partly over an existing shape, in front or behind
                    other = boxes[list(boxes)[int(rng.integers(len(boxes)))]]
                    cx = (other[0] + other[2]) / 2 + rng.uniform(-0.6, 0.6) * (other[2] - other[0])
                    cy = (other[1] + other[3]) / 2 + rng.uniform(-0.6, 0.6) * (other[3] - other[1])
                    x0 = float(np.clip(cx - w / 2, 0.02, 0.98 - w))
                    y0 = float(np.clip(cy - h / 2, 0.02, 0.98 - h))
                else:
                    x0, y0 = rng.uniform(0.02, 0.98 - w), rng.uniform(0.02, 0.98 - h)
                box = (x0, y0, x0 + w, y0 + h)
                if overlap and not any(_covers(box, b) > 0.4 or _covers(b, box) > 0.4 for b in boxes.values()):
                    break
                if not overlap and not any(_intersects(box, b) for b in boxes.values()):
                    break
            z = int(rng.integers(-1, 2)) if overlap else 0
        box = tuple(round(float(v), 4) for v in box)
        boxes[name], zs[name] = box, z
        regions[name] = _region(shape, color, z)
    background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    seed_value = key[0] if len(key) == 1 else None
    return Layout(canvas=canvas, boxes=boxes, objects=regions, background=background, seed=seed_value)


def _covers(a, b) -> float:
    """The share of box ``b`` that box ``a`` covers."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((b[2] - b[0]) * (b[3] - b[1]), 1e-9)


def _intersects(a, b, margin: float = 0.01) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def heldout_layouts(n: int = 200, *, objects: tuple[int, int] = (1, 6),
                    canvas: tuple[int, int] = (64, 64)) -> list[Layout]:
    """The evaluation layouts: seeds ``0..n-1`` of the held-out stream, which training never
    draws from."""
    return [random_layout(i, objects=objects, canvas=canvas, stream=HELDOUT_STREAM) for i in range(n)]
