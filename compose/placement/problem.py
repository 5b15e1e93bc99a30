"""Scenes to layout problems: boxes, sizes, relations' encodings, soft targets, constraint tags.

:func:`build_problem` turns a :class:`~compose.scene.Scene` into a
:class:`compose.solvers.Problem`: one box per instance on an integer grid proportional to the
canvas (:data:`GRID` units along its longer side), sized from the ``size`` option or a class
prior (:data:`CLASS_PRIORS`), never smaller than a visible minimum; fixed ``at`` boxes; no overlap
between distinct objects unless a relation that allows it (on, inside, in front of, behind)
joins them; each relation by its encoding in :data:`compose.relations.RELATIONS`; ``prefer``
statements and seeded random targets as soft terms. Every constraint carries the
:class:`ConstraintTag` it came from, so that an impossible scene is explained in the user's words.

>>> from compose.scene import ObjectGroup, Ref, RelationStatement, Scene
>>> scene = Scene(objects=[ObjectGroup(name="car", phrase="a car"), ObjectGroup(name="tree", phrase="a tree")],
...               statements=[RelationStatement(subject=Ref(group="car"), predicate="left_of",
...                                             objects=[Ref(group="tree")])])
>>> from compose.placement import place
>>> lay = place(scene, seed=3)
>>> from compose.relations import RELATIONS, STRICT, Margins
>>> RELATIONS["left_of"].check(lay.boxes["car#0"], [lay.boxes["tree#0"]]).passed
True
>>> w, h = lay.pixel_box("car#0")[2] - lay.pixel_box("car#0")[0], lay.pixel_box("car#0")[3] - lay.pixel_box("car#0")[1]
>>> w > h  # a car is wider than tall
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from compose.boxes import Box
from compose.errors import UsageError
from compose.relations import RELATIONS, STRICT, Margins
from compose.scene import Scene, Span, valid_box
from compose.vocabulary import SIZES

#: Grid units along the canvas' longer side; the other side is proportional, so a unit is square.
GRID = 1000

#: Width/height and relative size of common classes (COCO's and GenEval's among them); unknown
#: classes get :data:`DEFAULT_PRIOR`. The embedded world's shapes are square-ish.
CLASS_PRIORS: dict[str, tuple[float, float]] = {
    "person": (0.45, 1.0), "man": (0.45, 1.0), "woman": (0.45, 1.0), "child": (0.45, 0.8),
    "giraffe": (0.6, 1.2), "horse": (1.3, 1.1), "cow": (1.4, 1.1), "elephant": (1.3, 1.25),
    "zebra": (1.3, 1.1), "sheep": (1.3, 0.9), "bear": (1.2, 1.1), "teddy bear": (0.8, 0.8),
    "dog": (1.25, 0.9), "cat": (1.15, 0.8), "bird": (1.1, 0.6), "mouse": (1.3, 0.4),
    "car": (1.9, 1.1), "truck": (1.9, 1.25), "bus": (2.2, 1.3), "train": (2.6, 1.3),
    "motorcycle": (1.5, 1.0), "bicycle": (1.55, 1.0), "airplane": (1.8, 1.2), "boat": (1.7, 1.1),
    "bench": (2.0, 1.0), "couch": (2.0, 1.2), "sofa": (2.0, 1.2), "bed": (1.5, 1.3),
    "dining table": (1.7, 1.2), "table": (1.6, 1.1), "desk": (1.6, 1.1), "chair": (0.75, 0.9),
    "tv": (1.6, 0.9), "laptop": (1.35, 0.7), "keyboard": (2.5, 0.6), "book": (0.75, 0.5),
    "bottle": (0.35, 0.6), "vase": (0.6, 0.6), "cup": (0.9, 0.45), "mug": (1.1, 0.45),
    "wine glass": (0.45, 0.5), "kettle": (1.1, 0.6), "bowl": (1.8, 0.5), "clock": (1.0, 0.6),
    "potted plant": (0.75, 0.75), "plant": (0.75, 0.75), "tree": (0.7, 1.3), "house": (1.3, 1.3),
    "fire hydrant": (0.6, 0.7), "stop sign": (1.0, 0.7), "traffic light": (0.4, 0.8),
    "parking meter": (0.35, 0.8), "umbrella": (1.3, 0.9), "kite": (1.0, 0.6),
    "skateboard": (2.5, 0.6), "surfboard": (0.35, 1.0), "skis": (0.3, 1.0), "snowboard": (0.35, 1.0),
    "tennis racket": (0.6, 0.6), "baseball bat": (0.25, 0.7), "toothbrush": (0.3, 0.4),
    "banana": (1.6, 0.5), "apple": (1.0, 0.4), "orange": (1.0, 0.4), "pizza": (1.4, 0.7),
    "cake": (1.2, 0.6), "sandwich": (1.4, 0.5), "refrigerator": (0.55, 1.3), "oven": (1.0, 1.0),
    "microwave": (1.5, 0.7), "sink": (1.6, 0.8), "toilet": (0.7, 0.9), "suitcase": (0.8, 0.8),
    "backpack": (0.75, 0.7), "handbag": (1.2, 0.6), "lamp": (0.5, 0.8), "moon": (1.0, 0.6),
    "sun": (1.0, 0.7), "circle": (1.0, 1.0), "square": (1.0, 1.0), "triangle": (1.0, 1.0),
    "star": (1.0, 1.0), "diamond": (1.0, 1.0), "cross": (1.0, 1.0),
}

#: (aspect, relative size) of a class not in :data:`CLASS_PRIORS`.
DEFAULT_PRIOR = (1.0, 1.0)

#: Side of an object without a ``size`` option, as a fraction of the canvas' shorter side.
DEFAULT_SIZE = SIZES["medium"]

#: Side of an unsized object that has something inside it: its content is at most 0.4 of it
#: (the ``inside`` encoding), and should stay large enough to draw and to detect.
CONTAINER_SIZE = SIZES["large"]

#: Smallest side of any object, as a fraction of the canvas' shorter side: still visible.
MIN_VISIBLE = 0.02

#: Free space kept between boxes that must not overlap (a share of the canvas' longer side).
SEPARATION = STRICT.separation

#: How far an object may shrink below its prior when the canvas is crowded: to this share of a
#: ``size`` the user wrote, or of the class prior otherwise.
MIN_SHARE_SIZED = 0.5
MIN_SHARE_DEFAULT = 0.2

#: How far a box's width/height may stray from its prior aspect (a factor either way).
ASPECT_SLACK = 2.0

#: Soft-term weights: per grid unit of size, per grid unit (doubled) of position; a broken
#: ``prefer`` costs its weight times this many grid-unit-weights.
SIZE_WEIGHT = 4
POSITION_WEIGHT = 1
PREFER_SCALE = 4 * GRID

#: The golden ratio: :func:`target_cells` turns a block's assignment by ``cells / GOLDEN`` a seed,
#: the stride that keeps successive turns furthest apart.
GOLDEN = (1 + 5 ** 0.5) / 2


@dataclass(frozen=True)
class ConstraintTag:
    """One statement of a scene, as a tag of the constraints it produces.

    ``kind`` is ``"object"`` (a declaration: the object's size, fixed box, canvas and its share of
    the no-overlap rule), ``"relation"`` or ``"fixed"`` (a box held by the caller); ``key`` the
    group name, statement index or instance id.
    """

    kind: str
    key: Any
    text: str
    span: Span | None = None

    def describe(self) -> str:
        """``file:line:col: text`` (or the prompt words), or just the text.

        >>> ConstraintTag("relation", 0, "a left of b", Span(file="x.scene", line=4, column=1)).describe()
        'x.scene:4:1: a left of b'
        """
        return f"{self.span.describe()}: {self.text}" if self.span is not None else self.text


def grid_size(canvas: tuple[int, int]) -> tuple[int, int]:
    """The grid for a canvas: :data:`GRID` units along the longer side.

    >>> grid_size((512, 512)), grid_size((1024, 512))
    ((1000, 1000), (1000, 500))
    """
    w, h = canvas
    scale = GRID / max(w, h)
    return max(2, round(w * scale)), max(2, round(h * scale))


def class_prior(class_name: str) -> tuple[float, float]:
    """(aspect, relative size) of a class; the last word decides for unknown compounds.

    >>> class_prior("car")[0] > 1 > class_prior("giraffe")[0]
    True
    >>> class_prior("red sports car") == class_prior("car"), class_prior("blorp")
    (True, (1.0, 1.0))
    """
    name = class_name.lower().strip()
    if name in CLASS_PRIORS:
        return CLASS_PRIORS[name]
    last = name.split()[-1] if name.split() else name
    if last in CLASS_PRIORS:
        return CLASS_PRIORS[last]
    if last.endswith("s") and last[:-1] in CLASS_PRIORS:
        return CLASS_PRIORS[last[:-1]]
    return DEFAULT_PRIOR


def _statement_text(obj) -> str:
    from compose.language.formatter import format_object, format_statement

    return format_statement(obj) if hasattr(obj, "predicate") else format_object(obj)


def target_cells(count: int, cells: int, seed: int) -> list[int]:
    """Grid cells for the position targets of ``count`` instances among ``cells``, by seed.

    Seeds come in blocks of ``cells``: a block shares one random assignment, and each seed of
    the block turns it by a stride near ``cells / golden ratio`` (coprime with ``cells``), so
    that the seeds a user tries one after another send every instance to a different, far-off
    cell, as stratified sampling does, instead of independent draws that often coincide.

    >>> [target_cells(3, 4, s) for s in range(4)]  # each instance visits every cell
    [[1, 0, 3], [0, 3, 2], [3, 2, 1], [2, 1, 0]]
    >>> target_cells(3, 4, 4) != target_cells(3, 4, 0)  # the next block: a new assignment
    True
    """
    block, turn = divmod(int(seed), cells)
    order = random.Random(f"layout-cells:{block}:{cells}").sample(range(cells), count)
    stride = max(1, round(cells / GOLDEN))
    while math.gcd(stride, cells) != 1:
        stride += 1
    return [(cell + turn * stride) % cells for cell in order]


def build_problem(scene: Scene, *, seed: int, counts: dict[str, int] | None = None,
                  fixed: dict[str, Box] | None = None, margins: Margins = STRICT, declared=None):
    """The layout problem of ``scene``; returns ``(problem, instances, counts)``.

    ``counts`` fixes ranged counts (default: drawn from ``seed``); ``fixed`` holds instance boxes
    (normalised) in place, as repainting does; ``margins`` is the room kept for drawing and
    detection (:data:`compose.relations.STRICT`; :data:`~compose.relations.RELAXED` keeps only
    the predicates, and no free space between boxes). ``declared``, a problem built by this
    function for the same scene, seed, counts and fixed boxes with other margins, lends its
    boxes, sizes and targets (the same either way): only the relations and the no-overlap rule
    are made again, which is about half the work.
    """
    from compose.solvers import Problem

    counts = counts if counts is not None else scene.resolve_counts(seed)
    instances = scene.instances(counts)
    if declared is not None:
        problem = Problem(declared.width, declared.height, boxes=dict(declared.boxes),
                          requirements=[r for r in declared.requirements if getattr(r.tag, "kind", None) != "relation"],
                          targets=list(declared.targets), descriptions=dict(declared.descriptions))
        _relate(scene, problem, instances, counts, margins)
        return problem, instances, counts
    fixed = dict(fixed or {})
    known = {inst.id for inst in instances}
    for iid, box in fixed.items():
        if iid not in known:
            raise UsageError("E006", argument="fixed", value=iid,
                             expected=f"an instance id of the scene ({', '.join(sorted(known)) or 'none'})")
        if not valid_box(tuple(box)):
            raise UsageError("E006", argument=f"fixed[{iid!r}]", value=tuple(box),
                             expected="(x0, y0, x1, y1) with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    W, H = grid_size(scene.canvas)
    side = min(W, H)
    problem = Problem(W, H)
    rng = random.Random(f"layout:{seed}")
    groups = {g.name: g for g in scene.objects}
    declarations = {g.name: ConstraintTag("object", g.name, _statement_text(g), g.span) for g in scene.objects}
    for tag in declarations.values():
        problem.describe(tag, tag.describe())
    crowd = max(1, len(instances))
    columns = math.ceil(math.sqrt(crowd))
    rows = math.ceil(crowd / columns)
    cells = {inst.id: cell for inst, cell in zip(instances, target_cells(len(instances), columns * rows, seed))}

    containers = {o for rel in scene.relations(counts) if rel.predicate == "inside" for o in rel.object_ids}
    for inst in instances:
        group = groups[inst.group]
        aspect, scale = class_prior(inst.class_name)
        aspect = group.aspect or aspect
        if group.size is not None:
            frac = SIZES[group.size] if isinstance(group.size, str) else float(group.size)
            share = MIN_SHARE_SIZED
        else:
            # many unsized objects start small rather than fight over the canvas
            frac = min(DEFAULT_SIZE * scale, 0.75 / math.sqrt(crowd))
            if inst.id in containers:  # room for its content at a visible size
                frac = max(frac, CONTAINER_SIZE)
            share = MIN_SHARE_DEFAULT
        w_p, h_p = frac * side * math.sqrt(aspect), frac * side / math.sqrt(aspect)
        shrink = min(1.0, W / w_p, H / h_p)
        w_p, h_p = w_p * shrink, h_p * shrink
        floor = MIN_VISIBLE * side
        min_w = max(1, min(W, round(max(floor, share * w_p))))
        min_h = max(1, min(H, round(max(floor, share * h_p))))
        grid_fixed = None
        tag = declarations[inst.group]
        box = fixed.get(inst.id) or group.at
        if inst.id in fixed:
            tag = ConstraintTag("fixed", inst.id, f"{inst.id} held at ({', '.join(f'{v:g}' for v in fixed[inst.id])})")
            problem.describe(tag, tag.describe())
        if box is not None:
            x0, y0, x1, y1 = box
            gx0, gy0 = min(W - 1, round(x0 * W)), min(H - 1, round(y0 * H))
            grid_fixed = (gx0, gy0, max(gx0 + 1, round(x1 * W)), max(gy0 + 1, round(y1 * H)))
        ref = problem.add_box(inst.id, min_size=(min_w, min_h), fixed=grid_fixed, tag=tag)
        if grid_fixed is not None:
            continue
        # the box keeps roughly its shape: w / h within ASPECT_SLACK of the prior either way
        hi, lo = round(100 * aspect * ASPECT_SLACK), max(1, round(100 * aspect / ASPECT_SLACK))
        problem.require([100 * ref.w <= hi * ref.h, 100 * ref.w >= lo * ref.h], tag=tag)
        # seeded targets: different seeds, different arrangements (not one solution shifted)
        jitter = rng.uniform(0.8, 1.2)
        w_t, h_t = max(min_w, round(w_p * jitter)), max(min_h, round(h_p * jitter))
        problem.target(ref.w, w_t, SIZE_WEIGHT)
        problem.target(ref.h, h_t, SIZE_WEIGHT)
        # a random cell of a grid with a cell per instance, anywhere in it: spread like a uniform
        # draw, without the piles a uniform draw makes on a crowded canvas
        row, col = divmod(cells[inst.id], columns)
        cx = min(max(w_t / 2, (col + rng.random()) * W / columns), max(w_t / 2, W - w_t / 2))
        cy = min(max(h_t / 2, (row + rng.random()) * H / rows), max(h_t / 2, H - h_t / 2))
        problem.target(ref.cx2, round(2 * cx), POSITION_WEIGHT)
        problem.target(ref.cy2, round(2 * cy), POSITION_WEIGHT)

    _relate(scene, problem, instances, counts, margins)
    return problem, instances, counts


def _relate(scene: Scene, problem, instances, counts: dict[str, int], margins: Margins) -> None:
    """The relations' constraints (hard ones required, soft ones preferred) and the no-overlap
    rule, with ``margins``."""
    relations = scene.relations(counts)
    statements = {}
    allowed = set()
    for k, st in enumerate(scene.statements):
        statements[k] = ConstraintTag("relation", k, _statement_text(st), st.span)
        problem.describe(statements[k], statements[k].describe())
    for rel in relations:
        spec = RELATIONS[rel.predicate]
        subject, objects = problem.box(rel.subject), [problem.box(o) for o in rel.object_ids]
        constraints = spec.encode(problem, subject, objects, margins)
        if rel.hard:
            problem.require(constraints, tag=statements[rel.statement])
        else:
            problem.prefer(constraints, round(PREFER_SCALE * rel.weight))
        if spec.allows_overlap:
            allowed.add((rel.subject, rel.object_ids[0]))
    problem.no_overlap([inst.id for inst in instances], allowed,
                       gap=round(margins.separation * max(problem.width, problem.height)))


def size_cycle(scene: Scene, counts: dict[str, int], problem) -> list[ConstraintTag] | None:
    """The statements of a cycle of ``larger than`` / ``smaller than`` (each needs 1.5 times the
    area, so no cycle can hold), as the tags of ``problem``; None when there is none.

    The solver would prove such a cycle too, but only by trying each combination of the
    encodings' branches; the order of areas proves it at once.

    >>> from compose.scene import ObjectGroup, Ref, RelationStatement, Scene
    >>> s = Scene(objects=[ObjectGroup(name=n, phrase=n) for n in "ab"],
    ...           statements=[RelationStatement(subject=Ref(group="a"), predicate="larger_than", objects=[Ref(group="b")]),
    ...                       RelationStatement(subject=Ref(group="a"), predicate="smaller_than", objects=[Ref(group="b")])])
    >>> counts = s.resolve_counts(0)
    >>> [t.text for t in size_cycle(s, counts, build_problem(s, seed=0, counts=counts)[0])]
    ['a larger than b', 'a smaller than b']
    """
    sized = [rel for rel in scene.relations(counts)
             if rel.hard and rel.predicate in ("larger_than", "smaller_than")]
    if len(sized) < 2:
        return None  # a cycle needs two (place calls this on every layout, repairs included)
    import networkx as nx

    graph = nx.MultiDiGraph()
    for rel in sized:
        big, small = rel.subject, rel.object_ids[0]
        if rel.predicate == "smaller_than":
            big, small = small, big
        graph.add_edge(big, small, statement=rel.statement)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    statements = sorted({graph.edges[u, v, key]["statement"] for u, v, key in cycle})
    tags = {t.key: t for t in problem.tags() if isinstance(t, ConstraintTag) and t.kind == "relation"}
    return [tags[k] for k in statements]


def assign_z(scene: Scene, instances, counts: dict[str, int]) -> dict[str, int]:
    """z of every instance: one more than everything it is on, inside or in front of.

    >>> from compose.scene import ObjectGroup, Ref, RelationStatement, Scene
    >>> s = Scene(objects=[ObjectGroup(name="cat", phrase="a cat"), ObjectGroup(name="mat", phrase="a mat")],
    ...           statements=[RelationStatement(subject=Ref(group="cat"), predicate="on", objects=[Ref(group="mat")])])
    >>> assign_z(s, s.instances(), {"cat": 1, "mat": 1})
    {'cat#0': 1, 'mat#0': 0}
    """
    from compose.solvers.greedy import ranks

    edges = []
    for rel in scene.relations(counts):
        z = RELATIONS[rel.predicate].z
        if z > 0:
            edges.append((rel.object_ids[0], rel.subject))
        elif z < 0:
            edges.append((rel.subject, rel.object_ids[0]))
    return ranks([inst.id for inst in instances], edges)
