"""Scenes with a planted solution: random boxes first, then the relations that hold between them.

Used by the solver's property tests and benchmarks: because the relations are read off real
boxes, a layout is known to exist. The planted boxes do not overlap; each object gets about one
relation, to a near neighbour, chosen at random among those whose verifier predicate holds on
the planted boxes *and* whose solver encoding holds there too (the encoding is the stronger of
the two, so the planted boxes witness that the solver's problem is feasible).

>>> scene, boxes = planted_scene(6, seed=1)
>>> len(scene.objects), len(scene.statements) > 0
(6, True)
"""

from __future__ import annotations

import math
import random

from compose.relations import RELATIONS
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene

#: Relations a planted scene may use (those that can hold between non-overlapping boxes).
PLANTED_RELATIONS = ("left_of", "right_of", "above", "below", "near", "next_to", "under",
                     "larger_than", "smaller_than", "between")

Box = tuple[float, float, float, float]


def planted_boxes(n: int, rng: random.Random, *, fill: float = 0.5) -> list[Box]:
    """``n`` non-overlapping boxes in the unit square: one per cell of a jittered grid, each
    square-ish (aspect 0.6..1.6) and covering about ``fill`` of its cell's area on average."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cells = rng.sample([(r, c) for r in range(rows) for c in range(cols)], n)
    cw, ch = 1 / cols, 1 / rows
    out = []
    for r, c in cells:
        side = rng.uniform(0.45, 0.95) * math.sqrt(fill * 2) * min(cw, ch) / 1.2
        aspect = rng.uniform(0.6, 1.6)
        w = min(cw * 0.95, side * math.sqrt(aspect))
        h = min(ch * 0.95, side / math.sqrt(aspect))
        x0 = c * cw + rng.uniform(0, cw - w)
        y0 = r * ch + rng.uniform(0, ch - h)
        out.append((x0, y0, x0 + w, y0 + h))
    return out


def _encoding_holds(name: str, subject: Box, objects: list[Box], grid: tuple[int, int]) -> bool:
    from compose.solvers import Problem

    W, H = grid
    p = Problem(W, H)
    refs = []
    boxes = {}
    for i, b in enumerate([subject, *objects]):
        key = f"b{i}"
        refs.append(p.add_box(key))
        boxes[key] = (round(b[0] * W), round(b[1] * H), round(b[2] * W), round(b[3] * H))
    constraints = RELATIONS[name].encode(p, refs[0], refs[1:])
    return all(c.holds(boxes) for c in constraints)


def planted_scene(n: int, seed: int = 0, *, relations: tuple[str, ...] = PLANTED_RELATIONS,
                  canvas: tuple[int, int] = (512, 512)) -> tuple[Scene, dict[str, Box]]:
    """A scene of ``n`` objects with about one relation each, and the boxes it was read off.

    Each object's ``size`` is the planted box's shorter side, so the solver's minimum sizes fit
    the planted boxes.
    """
    from compose.placement import grid_size

    rng = random.Random(f"planted:{n}:{seed}")
    boxes = planted_boxes(n, rng)
    grid = grid_size(canvas)
    names = [f"o{i}" for i in range(n)]
    short = min(canvas)
    objects = []
    for name, (x0, y0, x1, y1) in zip(names, boxes):
        side = min((x1 - x0) * canvas[0], (y1 - y0) * canvas[1]) / short
        objects.append(ObjectGroup(name=name, phrase=f"object {name}", size=round(max(0.04, side), 4)))
    statements = []
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    for i in range(n):
        others = sorted((j for j in range(n) if j != i),
                        key=lambda j: math.dist(centres[i], centres[j]))[:4]
        if not others:
            continue
        rng.shuffle(others)
        found = None
        for j in others:
            options = []
            for name in relations:
                spec = RELATIONS[name]
                if spec.arity == 2:
                    k = next((k for k in others if k != j), None)
                    if k is None:
                        continue
                    objs = [boxes[j], boxes[k]]
                    refs = [Ref(group=names[j]), Ref(group=names[k])]
                else:
                    objs, refs = [boxes[j]], [Ref(group=names[j])]
                if spec.check(boxes[i], objs).passed and _encoding_holds(name, boxes[i], objs, grid):
                    options.append((name, refs))
            if options:
                found = rng.choice(options)
                break
        if found is not None:
            statements.append(RelationStatement(subject=Ref(group=names[i]), predicate=found[0],
                                                objects=found[1]))
    scene = Scene(canvas=canvas, objects=objects, statements=statements, seed=seed)
    return scene, {f"{name}#0": box for name, box in zip(names, boxes)}
