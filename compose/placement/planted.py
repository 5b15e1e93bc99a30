"""Scenes with a planted solution: random boxes first, then relations the verifier reads off them.

Used by the solver's property tests and benchmarks: because every relation is one that the
verifier's predicate passes on the planted boxes, those boxes witness that the scene can hold as
written (the planted boxes overlap only where a relation that allows it joins them). The boxes
are a jittered grid, some of them with a *child* that overlaps its parent (inside it, on it, in
front of or behind it); some grid boxes form groups of like objects (``count``), whose relations
hold for every pair of instances. Relations are those that hold between near neighbours, each
kept at random (``keep``), or about one per object (``keep=None``, the scale benchmark's scenes).

>>> scene, boxes = planted_scene(6, seed=1)
>>> len(scene.instances()) == len(boxes) == 6, len(scene.statements) > 0
(True, True)
"""

from __future__ import annotations

import math
import random

from compose.boxes import Box
from compose.relations import RELATIONS
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene

from .problem import ASPECT_SLACK, MIN_VISIBLE, class_prior

#: Every relation a planted scene may use.
PLANTED_RELATIONS = tuple(RELATIONS)

#: Planted boxes whose width / height strays further than this from their class' prior (a
#: little inside the solver's ``ASPECT_SLACK``, for the grid's rounding) say their aspect.
ASPECT_BAND = 0.95 * ASPECT_SLACK

#: Relations between a child and its parent, by how the child was planted.
_CHILD_KINDS = ("inside", "on", "in_front_of", "behind")



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


def _grid_and_children(n: int, n_child: int, rng: random.Random, canvas: tuple[int, int]):
    """A grid of ``n - n_child`` boxes, and children on up to ``n_child`` of them: (grid, every
    box, (child, parent, kind) links). A child overlaps its parent only and has no side below
    the solver's floor. Parents are drawn at random; where one is too small for a child, the
    other grid boxes are tried in a random order."""
    grid = planted_boxes(n - n_child, rng)
    boxes = list(grid)
    links: list[tuple[int, int, str]] = []

    def plant(p: int) -> None:
        for kind in [*rng.sample(_CHILD_KINDS, len(_CHILD_KINDS)), "inside"]:
            box = _child(grid[p], kind, rng)
            inside_canvas = 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
            # no side below the solver's floor for a box (a little over it, for the grid's rounding)
            visible = min((box[2] - box[0]) * canvas[0], (box[3] - box[1]) * canvas[1]) >= 1.05 * MIN_VISIBLE * min(canvas)
            if (inside_canvas and visible and RELATIONS[kind].check(box, [grid[p]]).passed
                    and not any(_overlaps(box, b) for k, b in enumerate(boxes) if k != p)):
                links.append((len(boxes), p, kind))
                boxes.append(box)
                return

    parents = rng.sample(range(len(grid)), n_child)
    for p in parents:
        plant(p)
    if len(links) < n_child:
        chosen = set(parents)
        others = [k for k in range(len(grid)) if k not in chosen]
        rng.shuffle(others)
        for p in others:
            if len(links) == n_child:
                break
            plant(p)
    return grid, boxes, links


def _overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _child(parent: Box, kind: str, rng: random.Random) -> Box:
    """A box that stands in relation ``kind`` to ``parent`` (checked by the caller)."""
    x0, y0, x1, y1 = parent
    w, h = x1 - x0, y1 - y0
    if kind == "inside":
        cw, ch = w * rng.uniform(0.25, 0.6), h * rng.uniform(0.25, 0.6)
        cx0, cy0 = x0 + rng.uniform(0, w - cw), y0 + rng.uniform(0, h - ch)
        return (cx0, cy0, cx0 + cw, cy0 + ch)
    cw, ch = w * rng.uniform(0.4, 0.9), h * rng.uniform(0.4, 0.9)
    cx0 = x0 + rng.uniform(-0.2 * cw, w - 0.8 * cw)
    if kind == "on":
        bottom = y0 + rng.uniform(-0.1, 0.2) * h
        return (cx0, bottom - ch, cx0 + cw, bottom)
    if kind == "in_front_of":
        bottom = y1 + rng.uniform(0, 0.3) * ch
    else:
        bottom = y1 - rng.uniform(0, 0.4) * h
    return (cx0, bottom - ch, cx0 + cw, bottom)


def planted_scene(n: int, seed: int = 0, *, relations: tuple[str, ...] = PLANTED_RELATIONS,
                  canvas: tuple[int, int] = (512, 512), children: float = 0.2,
                  groups: float = 0.2, keep: float | None = None,
                  neighbours: int = 4) -> tuple[Scene, dict[str, Box]]:
    """A scene of ``n`` instances and the boxes its relations were read off (by instance id).

    Parameters
    ----------
    children : float
        Share of the instances planted overlapping a parent (inside, on, in front of, behind).
    groups : float
        Share of the grid instances gathered into groups of 2..5 like objects.
    keep : float, optional
        Chance of keeping each relation that holds between near neighbours (an entity and its
        ``neighbours`` nearest, by centre); ``None``: one relation per entity.

    Each group's ``size`` is its instances' smallest shorter side, so the solver's minimum sizes
    fit the planted boxes; a group whose boxes are flatter or taller than the solver's aspect band
    (``ASPECT_SLACK`` around the class prior) says its ``aspect``, so that the band holds them.
    """
    rng = random.Random(f"planted:{n}:{seed}")
    n_child = min(n // 2, round(children * n))
    for attempt in range(8):
        grid, boxes, links = _grid_and_children(n, n_child, rng, canvas)
        if len(links) == n_child:
            break
        # some parents were too small for a child above the solver's floor: plant as many
        # children as fitted, on a grid with a box more for each one that did not
        n_child = len(links)
        rng = random.Random(f"planted:{n}:{seed}:{attempt + 1}")
    # entities: groups of grid boxes that are not parents (a parent's child relation is its own)
    parents = {p for _, p, _ in links}
    free = [k for k in range(len(grid)) if k not in parents]
    rng.shuffle(free)
    members: list[list[int]] = []
    budget = round(groups * len(grid))
    while budget >= 2 and len(free) >= 2:
        size = min(len(free), rng.randint(2, 5), budget)
        members.append(free[:size])
        free, budget = free[size:], budget - size
    grouped = {k for m in members for k in m}
    members += [[k] for k in range(len(boxes)) if k not in grouped]
    members.sort(key=min)
    names = [f"o{i}" for i in range(len(members))]
    short = min(canvas)
    objects, planted = [], {}
    for name, ks in zip(names, members):
        side = min(min((boxes[k][2] - boxes[k][0]) * canvas[0], (boxes[k][3] - boxes[k][1]) * canvas[1])
                   for k in ks) / short
        group = ObjectGroup(name=name, phrase=f"object {name}", count=len(ks), size=round(max(0.02, side), 4))
        # the solver keeps a box's width / height within ASPECT_SLACK of its class' prior; a
        # planted box beyond that (a flat child on its parent) says its aspect, so that the
        # planted boxes still witness the scene as written
        aspects = [(boxes[k][2] - boxes[k][0]) * canvas[0] / ((boxes[k][3] - boxes[k][1]) * canvas[1]) for k in ks]
        prior = class_prior(group.class_name)[0]
        if not all(prior / ASPECT_BAND <= a <= prior * ASPECT_BAND for a in aspects):
            group = group.model_copy(update={"aspect": round(math.sqrt(min(aspects) * max(aspects)), 4)})
        objects.append(group)
        for i, k in enumerate(ks):
            planted[f"{name}#{i}"] = boxes[k]
    entity_of = {k: e for e, ks in enumerate(members) for k in ks}

    def holds(pred: str, e: int, objs: list[int]) -> bool:
        spec = RELATIONS[pred]
        if len({e, *objs}) != 1 + len(objs):
            return False
        for s in members[e]:
            for combo in _product([members[o] for o in objs]):
                if not spec.check(boxes[s], [boxes[k] for k in combo]).passed:
                    return False
        return True

    centres = [_centre_of([boxes[k] for k in ks]) for ks in members]
    statements: list[tuple[int, str, tuple[int, ...]]] = []
    forced = [(entity_of[c], kind, (entity_of[p],)) for c, p, kind in links]
    for e in range(len(members)):
        near = sorted((j for j in range(len(members)) if j != e),
                      key=lambda j: math.dist(centres[e], centres[j]))[:neighbours]
        options = []
        for j in near:
            for pred in relations:
                spec = RELATIONS[pred]
                if spec.arity == 2:
                    for k in near:
                        if k > j and holds(pred, e, [j, k]):
                            options.append((e, pred, (j, k)))
                elif not (spec.symmetric and j < e and e in near_of(j, centres, neighbours)) \
                        and holds(pred, e, [j]):
                    options.append((e, pred, (j,)))
        if keep is None:
            if options:
                statements.append(rng.choice(options))
        else:
            statements += [opt for opt in options if rng.random() < keep]
    seen = set()
    out = []
    for e, pred, objs in forced + statements:
        if (e, pred, objs) in seen:
            continue
        seen.add((e, pred, objs))
        out.append(RelationStatement(subject=Ref(group=names[e]), predicate=pred,
                                     objects=[Ref(group=names[o]) for o in objs]))
    scene = Scene(canvas=canvas, objects=objects, statements=out, seed=seed)
    return scene, planted


def near_of(j: int, centres, neighbours: int) -> list[int]:
    """The ``neighbours`` entities nearest ``j`` (a symmetric relation is then read once)."""
    return sorted((k for k in range(len(centres)) if k != j),
                  key=lambda k: math.dist(centres[j], centres[k]))[:neighbours]


def _centre_of(boxes: list[Box]) -> tuple[float, float]:
    return (sum(b[0] + b[2] for b in boxes) / (2 * len(boxes)),
            sum(b[1] + b[3] for b in boxes) / (2 * len(boxes)))


def _product(lists: list[list[int]]):
    if not lists:
        yield ()
        return
    for head in lists[0]:
        for rest in _product(lists[1:]):
            yield (head, *rest)
