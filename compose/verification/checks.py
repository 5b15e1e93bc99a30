"""Symbolic checks: a scene plus detections (plus an optional layout) to verdicts with reasons.

Every check is a :class:`Check`: its ``kind``, pass or fail, a score in 0..1, the detections it
used, the scene ids it is about, and a reason a person reads ("found 2 mugs, expected 3").

Kinds
-----
``count``
    a group with a fixed count N holds exactly N (GenEval's rule: at least N and not N+1);
``presence``
    under the ``at_least`` count rule (GenEval's ``include``), at least N;
``count_range``
    a group with a count range holds a number inside it;
``forbidden``
    a forbidden class is absent;
``require``
    an explicit ``require count(x) op n`` holds;
``color``
    each instance with a color is bound to a detection of that color;
``relation``
    each relation between instances holds through its verifier predicate
    (:data:`compose.relations.RELATIONS`) on the bound detections' boxes, refined with shapely on
    their masks where masks exist (``inside``: the subject's pixels within the object's outline;
    ``in_front_of`` / ``behind``: which of the two owns the pixels where their outlines overlap).
    Soft relations (``hard=False``) are reported and never fail the image.

Instances are bound to detections by an optimal assignment (``scipy.optimize
.linear_sum_assignment``): on box IoU with the layout's boxes when a layout is known, otherwise on
class and color.

Examples
--------
>>> from compose.scene import Scene, ObjectGroup, RelationStatement, Ref
>>> from compose.verification.detection import Detection
>>> scene = Scene(objects=[ObjectGroup(name="circle", phrase="a red circle", color="red"),
...                        ObjectGroup(name="square", phrase="a blue square", color="blue")],
...               statements=[RelationStatement(subject=Ref(group="circle"), predicate="left_of",
...                                             objects=[Ref(group="square")])])
>>> found = [Detection((0.1, 0.4, 0.3, 0.6), "circle", 0.9, color="red"),
...          Detection((0.6, 0.4, 0.8, 0.6), "square", 0.9, color="green")]
>>> for c in run_checks(scene, found):
...     print(c.kind, c.passed, c.reason)
count True found 1 circle, expected 1
count True found 1 square, expected 1
color True circle#0 is red
color False square#0 is green, expected blue
relation True circle#0 left of square#0: normalised dx = -0.92, needs < -0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from compose.relations import RELATIONS, Verdict

if TYPE_CHECKING:  # pragma: no cover
    from compose.layouts import Layout
    from compose.scene import ObjectGroup, Scene
    from compose.verification.detection import Detection

CountRule = Literal["exact", "at_least"]

#: Cost of binding an instance to a detection of another class: never chosen.
_FORBIDDEN_COST = 1e6


@dataclass
class Check:
    """One verdict. ``detections`` are indices into the list of detections checked."""

    kind: str
    passed: bool
    score: float
    reason: str
    hard: bool = True
    subjects: list[str] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    predicate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "passed": self.passed, "score": round(float(self.score), 4),
                               "reason": self.reason, "hard": self.hard, "subjects": list(self.subjects),
                               "detections": list(self.detections)}
        if self.predicate is not None:
            out["predicate"] = self.predicate
        return out


def plural(word: str, n: int) -> str:
    """``word`` for one, a simple English plural otherwise.

    >>> plural("mug", 2), plural("cross", 3), plural("bus", 1), plural("teddy bear", 2)
    ('mugs', 'crosses', 'bus', 'teddy bears')
    """
    if n == 1:
        return word
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _norm(name: str) -> str:
    words = name.lower().replace("_", " ").split()
    if words and words[0] in ("a", "an", "the"):
        words = words[1:]
    return " ".join(words)


def _group_matches(scene: Scene, group: ObjectGroup, detections: Sequence[Detection]) -> tuple[list[int], str]:
    """Indices of the detections that count for ``group``, and how they were chosen.

    Detections of the group's class; when other groups share the class and differ in color, only
    those of the group's own color.
    """
    cls = _norm(group.class_name)
    same = [i for i, d in enumerate(detections) if _norm(d.class_name) == cls]
    siblings = [g for g in scene.objects if g is not group and _norm(g.class_name) == cls]
    if siblings and group.color is not None and all(g.color not in (None, group.color) for g in siblings):
        return [i for i in same if detections[i].color == group.color], f"{group.color} {cls}"
    return same, cls


def resolve_counts(scene: Scene, detections: Sequence[Detection], layout: Layout | None = None) -> dict[str, int]:
    """Counts per group: the layout's where known, else fixed counts as declared and ranges
    as found (clipped into the range)."""
    from compose.scene import CountRange

    counts = {}
    for group in scene.objects:
        if layout is not None and group.name in layout.counts:
            counts[group.name] = layout.counts[group.name]
        elif isinstance(group.count, CountRange):
            found = len(_group_matches(scene, group, detections)[0])
            counts[group.name] = min(max(found, group.count.min), group.count.max)
        else:
            counts[group.name] = group.count
    return counts


def bind_instances(scene: Scene, detections: Sequence[Detection], counts: dict[str, int],
                   layout: Layout | None = None) -> dict[str, int | None]:
    """Each instance's detection (an index), or ``None`` when none is left for it.

    An optimal assignment over a cost matrix: another class is never chosen; with a layout,
    the cost is ``1 - IoU`` with the instance's laid-out box (a wrong color adds 0.01 to break
    ties); without one, a wrong color costs 1 and lower detector scores break ties.

    >>> from compose.scene import Scene, ObjectGroup
    >>> from compose.verification.detection import Detection
    >>> s = Scene(objects=[ObjectGroup(name="c", phrase="circles", **{"class": "circle"}, count=2, color="red")])
    >>> d = [Detection((0, 0, .1, .1), "circle", .9, color="blue"), Detection((.5, .5, .6, .6), "circle", .8, color="red")]
    >>> bind_instances(s, d, {"c": 2})
    {'c#0': 1, 'c#1': 0}
    """
    from scipy.optimize import linear_sum_assignment

    from compose.boxes import iou

    instances = scene.instances(counts)
    binding: dict[str, int | None] = {inst.id: None for inst in instances}
    if not instances or not detections:
        return binding
    cost = np.full((len(instances), len(detections)), _FORBIDDEN_COST)
    for r, inst in enumerate(instances):
        color = inst.attributes.get("color")
        laid = layout.boxes.get(inst.id) if layout is not None else None
        for c, det in enumerate(detections):
            if _norm(det.class_name) != _norm(inst.class_name):
                continue
            wrong_color = float(color is not None and det.color is not None and det.color != color)
            if laid is not None:
                cost[r, c] = 1.0 - iou(laid, det.box) + 0.01 * wrong_color
            else:
                cost[r, c] = wrong_color + 0.001 * (1.0 - float(det.score))
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols):
        if cost[r, c] < _FORBIDDEN_COST:
            binding[instances[r].id] = int(c)
    return binding


def _mask_points(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.stack([xs + 0.5, ys + 0.5], axis=1)


def _outline(mask: np.ndarray):
    """The convex outline (a shapely polygon) of a mask's pixels, holes and bites closed."""
    import shapely

    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1) for dx in (0, 1) for dy in (0, 1)])
    return shapely.MultiPoint(corners).convex_hull


def mask_layering(front: np.ndarray, back: np.ndarray, front_whole: np.ndarray | None = None,
                  back_whole: np.ndarray | None = None) -> tuple[float, int] | None:
    """Share of the overlap of the two outlines that ``front``'s pixels own (against
    ``back``'s), and the number of pixels compared; ``None`` when the outlines overlap in fewer
    than 8 pixels (too few to tell).

    An outline is the whole object (``front_whole``, ``back_whole``: the detector's estimate of
    its pixels, hidden ones included) where known, else the convex hull of its visible pixels.

    >>> a = np.zeros((10, 10), bool); a[2:8, 2:8] = True
    >>> b = np.zeros((10, 10), bool); b[0:5, 0:5] = True; b[2:8, 2:8] = False
    >>> mask_layering(a, b)  # the hull of b's L shape overlaps a in 3 pixels only
    >>> whole_b = np.zeros((10, 10), bool); whole_b[0:5, 0:5] = True
    >>> mask_layering(a, b, a, whole_b)
    (1.0, 9)
    """
    import shapely

    if not front.any() or not back.any():
        return None
    ys, xs = np.nonzero(front | back)
    regions = []
    for visible, whole in ((front, front_whole), (back, back_whole)):
        if whole is not None:
            regions.append(whole[ys, xs])
        else:
            regions.append(shapely.contains_xy(_outline(visible), xs + 0.5, ys + 0.5))
    inside = regions[0] & regions[1]
    own_front = int(front[ys[inside], xs[inside]].sum())
    own_back = int(back[ys[inside], xs[inside]].sum())
    total = own_front + own_back
    return (own_front / total, total) if total >= 8 else None


def mask_containment(inner: np.ndarray, outer: np.ndarray, outer_whole: np.ndarray | None = None) -> float:
    """Share of ``inner``'s pixels inside ``outer``'s outline: the whole object
    (``outer_whole``) where known, else the convex hull of its pixels (holes and bites closed).

    >>> outer = np.zeros((10, 10), bool); outer[1:9, 1:9] = True
    >>> inner = np.zeros((10, 10), bool); inner[3:6, 3:6] = True; outer &= ~inner
    >>> mask_containment(inner, outer)
    1.0
    """
    import shapely

    if not inner.any() or not outer.any():
        return 0.0
    if outer_whole is not None:
        return float(outer_whole[inner].mean())
    points = _mask_points(inner)
    return float(shapely.contains_xy(_outline(outer), points[:, 0], points[:, 1]).mean())


def relation_verdict(predicate: str, subject: Detection, objects: Sequence[Detection]) -> Verdict:
    """The verifier predicate on the detections' boxes, refined with their masks where known."""
    spec = RELATIONS[predicate]
    verdict = spec.check(subject.box, [o.box for o in objects])
    masks = [subject.mask, *(o.mask for o in objects)]
    if any(m is None for m in masks) or predicate not in ("inside", "in_front_of", "behind"):
        return verdict
    if predicate == "inside":
        share = mask_containment(subject.mask, objects[0].mask, objects[0].whole)
        passed = share >= 0.9
        return Verdict(passed, 1.0 if passed else 0.99 * share,
                       f"{'' if passed else 'not '}inside: {share:.0%} of its pixels lie within the object's outline (needs 90%)")
    layering = mask_layering(subject.mask, objects[0].mask, subject.whole, objects[0].whole)
    if layering is None:
        return verdict
    share, pixels = layering
    in_front = share > 0.5
    wanted = predicate == "in_front_of"
    layered_ok = in_front == wanted
    passed = verdict.passed and layered_ok
    shown = f"it owns {share:.0%} of the {pixels} pixels where the outlines overlap"
    reason = f"{verdict.reason}; {shown} ({'in front' if in_front else 'behind'})"
    if passed:
        return Verdict(True, 1.0, reason)
    return Verdict(False, min(verdict.score, 0.99) * (1.0 if layered_ok else 0.5), reason)


def run_checks(scene: Scene, detections: Sequence[Detection], layout: Layout | None = None, *,
               count_rule: CountRule = "exact", binding: dict[str, int | None] | None = None) -> list[Check]:
    """Every check of ``scene`` against ``detections``, in a stable order: counts (per group),
    forbidden, require, colors (per instance), relations (per instance pair).

    Parameters
    ----------
    scene : Scene
    detections : sequence of Detection
        Colors must be filled in for the color checks to pass.
    layout : Layout, optional
        When known, instances bind to detections by IoU with their laid-out boxes and ranged
        counts take the layout's counts.
    count_rule : {"exact", "at_least"}
        ``exact`` (scenes): a fixed count N means N; ``at_least`` (GenEval's ``include``): N or more.
    binding : dict, optional
        A precomputed instance -> detection binding.
    """
    from compose.scene import CountRange

    checks: list[Check] = []
    counts = resolve_counts(scene, detections, layout)

    # counts -------------------------------------------------------------------------------------
    for group in scene.objects:
        found, described = _group_matches(scene, group, detections)
        n = len(found)
        sharing = [g for g in scene.objects if g is not group and _norm(g.class_name) == _norm(group.class_name)
                   and described == _norm(group.class_name)]
        expected_total = (group.count if isinstance(group.count, int) else None)
        if sharing and expected_total is not None and all(isinstance(g.count, int) for g in sharing):
            expected_total += sum(g.count for g in sharing)  # type: ignore[misc]
            together = f" (counted with {', '.join(g.name for g in sharing)})"
        else:
            together = ""
        if isinstance(group.count, CountRange):
            lo, hi = group.count.min, group.count.max
            passed = lo <= n <= hi
            score = 1.0 if passed else (n / lo if n < lo else hi / n)
            checks.append(Check("count_range", passed, score,
                                f"found {n} {plural(described, n)}, expected {lo} to {hi}",
                                subjects=[group.name], detections=found))
            continue
        want = expected_total if expected_total is not None else group.count
        if count_rule == "at_least":
            passed = n >= want
            score = 1.0 if passed else n / max(want, 1)
            checks.append(Check("presence", passed, score,
                                f"found {n} {plural(described, n)}{together}, expected at least {want}",
                                subjects=[group.name], detections=found))
        else:
            passed = n == want
            score = 1.0 if passed else min(n, want) / max(n, want)
            checks.append(Check("count", passed, score,
                                f"found {n} {plural(described, n)}{together}, expected {want}",
                                subjects=[group.name], detections=found))

    # forbidden and require ---------------------------------------------------------------------
    for forbidden in scene.forbidden:
        name = _norm(forbidden.name)
        found = [i for i, d in enumerate(detections) if _norm(d.class_name) in (name, name.rstrip("s"))]
        checks.append(Check("forbidden", not found, 0.0 if found else 1.0,
                            f"found {len(found)} {plural(name, len(found))}, expected none" if found
                            else f"no {name}, as required", subjects=[forbidden.name], detections=found))
    groups = {g.name: g for g in scene.objects}
    for req in scene.requirements:
        if req.target in groups:
            found, described = _group_matches(scene, groups[req.target], detections)
        else:
            described = _norm(req.target)
            found = [i for i, d in enumerate(detections) if _norm(d.class_name) == described]
        holds = req.holds(len(found))
        checks.append(Check("require", holds, 1.0 if holds else 0.0,
                            f"count({req.target}) = {len(found)}, required {req.op} {req.value}",
                            subjects=[req.target], detections=found))

    # colors -------------------------------------------------------------------------------------
    if binding is None:
        binding = bind_instances(scene, detections, counts, layout)
    for inst in scene.instances(counts):
        want_color = inst.attributes.get("color")
        if want_color is None:
            continue
        k = binding.get(inst.id)
        if k is None:
            checks.append(Check("color", False, 0.0, f"{inst.id} not found, so its color ({want_color}) cannot be seen",
                                subjects=[inst.id]))
            continue
        got = detections[k].color
        passed = got == want_color
        score = (detections[k].color_score if detections[k].color_score is not None else 1.0) if passed else 0.0
        reason = f"{inst.id} is {got}" if passed else f"{inst.id} is {got or 'of unknown color'}, expected {want_color}"
        checks.append(Check("color", passed, float(score), reason, subjects=[inst.id], detections=[k]))

    # relations ----------------------------------------------------------------------------------
    for rel in scene.relations(counts):
        ids = [rel.subject, *rel.object_ids]
        words = RELATIONS[rel.predicate].program_words[0]
        written = f"{rel.subject} {words} {' and '.join(rel.object_ids)}"
        missing = [i for i in ids if binding.get(i) is None]
        if missing:
            checks.append(Check("relation", False, 0.0, f"cannot check '{written}': {', '.join(missing)} not found",
                                hard=rel.hard, subjects=ids, predicate=rel.predicate,
                                detections=[binding[i] for i in ids if binding.get(i) is not None]))  # type: ignore[misc]
            continue
        used = [binding[i] for i in ids]
        verdict = relation_verdict(rel.predicate, detections[used[0]], [detections[k] for k in used[1:]])  # type: ignore[index]
        detail = verdict.reason.split(": ", 1)[1] if ": " in verdict.reason else verdict.reason
        sentence = (f"{written}: {detail}" if verdict.passed
                    else f"{rel.subject} is not {words} {' and '.join(rel.object_ids)}: {detail}")
        checks.append(Check("relation", verdict.passed, float(verdict.score),
                            sentence if rel.hard else f"(soft) {sentence}", hard=rel.hard,
                            subjects=ids, detections=used, predicate=rel.predicate))  # type: ignore[arg-type]
    return checks
