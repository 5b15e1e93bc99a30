"""Spatial relations: one definition each, with its words and its verifier predicate.

Every relation of ``relations.md`` is a :class:`RelationSpec` in :data:`RELATIONS`: its
snake_case name, the words that say it (``program_words`` for the scene language, ``words`` for
prompts), whether it is symmetric, whether it lets its boxes overlap, and its verifier predicate
on boxes ``(x0, y0, x1, y1)`` normalised to 0..1, origin top-left, y growing downwards.

Examples
--------
>>> RELATIONS["left_of"].check((0.0, 0.4, 0.2, 0.6), [(0.6, 0.4, 0.8, 0.6)]).passed
True
>>> lookup_words("to the left of").name
'left_of'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from compose.boxes import Box, intersection_area
from compose.boxes import area as _area

#: GenEval's position margin: centre offsets shrink by this times the sum of sizes per axis.
GENEVAL_POSITION_THRESHOLD = 0.1


@dataclass(frozen=True)
class Verdict:
    """A predicate's answer: pass or fail, a score in 0..1, and a reason a person reads."""

    passed: bool
    score: float
    reason: str


def _width(b: Box) -> float:
    return b[2] - b[0]


def _height(b: Box) -> float:
    return b[3] - b[1]


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def geneval_offset(a: Box, b: Box, threshold: float = GENEVAL_POSITION_THRESHOLD) -> tuple[float, float] | None:
    """GenEval's normalised, margin-shrunk offset of ``a`` relative to ``b``.

    Centre offsets shrink towards zero by ``threshold * (size_a + size_b)`` (GenEval: 0.1) per axis and are divided by
    the length of the unshrunk offset. ``None`` when both shrunk components vanish (no relation).

    >>> geneval_offset((0.0, 0.0, 0.2, 0.2), (0.6, 0.0, 0.8, 0.2))
    (-0.933..., 0.0)
    >>> geneval_offset((0.0, 0.0, 0.2, 0.2), (0.03, 0.0, 0.23, 0.2)) is None
    True
    """
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    ox, oy = ax - bx, ay - by
    rx = max(abs(ox) - threshold * (abs(_width(a)) + abs(_width(b))), 0.0) * math.copysign(1, ox)
    ry = max(abs(oy) - threshold * (abs(_height(a)) + abs(_height(b))), 0.0) * math.copysign(1, oy)
    if abs(rx) < 1e-3 and abs(ry) < 1e-3:
        return None
    norm = math.hypot(ox, oy)
    return rx / norm, ry / norm


def geneval_relations(a: Box, b: Box, threshold: float = GENEVAL_POSITION_THRESHOLD) -> set[str]:
    """The set of GenEval position words that hold for ``a`` relative to ``b`` (``threshold``:
    GenEval's margin).

    This is GenEval's ``relative_position`` rule, word for word.

    >>> sorted(geneval_relations((0.0, 0.0, 0.2, 0.2), (0.6, 0.6, 0.8, 0.8)))
    ['above', 'left of']
    """
    offset = geneval_offset(a, b, threshold)
    if offset is None:
        return set()
    dx, dy = offset
    out = set()
    if dx < -0.5:
        out.add("left of")
    if dx > 0.5:
        out.add("right of")
    if dy < -0.5:
        out.add("above")
    if dy > 0.5:
        out.add("below")
    return out


def _direction(axis: int, sign: int, word: str) -> Callable[[Box, Sequence[Box]], Verdict]:
    def check(s: Box, objects: Sequence[Box]) -> Verdict:
        offset = geneval_offset(s, objects[0])
        value = 0.0 if offset is None else sign * offset[axis]
        passed = value > 0.5
        # 0.5 at the threshold, 1 when fully in that direction, 0 when fully opposite
        score = 1.0 if passed else max(0.0, min(1.0, (value + 1) / 3))
        name = "dx" if axis == 0 else "dy"
        needs = f"{'<' if sign < 0 else '>'} {'-' if sign < 0 else ''}0.5"
        shown = "none (too close)" if offset is None else f"{offset[axis]:+.2f}"
        return Verdict(passed, score, f"{'' if passed else 'not '}{word}: normalised {name} = {shown}, needs {needs}")
    return check


def _on(s: Box, objects: Sequence[Box]) -> Verdict:
    o = objects[0]
    band = max(0.02, 0.25 * _height(o))
    gap = abs(s[3] - o[1])
    overlap = _overlap_1d(s[0], s[2], o[0], o[2]) / max(1e-9, min(_width(s), _width(o)))
    above = _centre(s)[1] < _centre(o)[1]
    passed = gap <= band and overlap >= 0.5 and above
    score = 1.0 if passed else max(0.0, min(1.0, 0.5 * min(1.0, band / max(gap, 1e-9)) + 0.5 * min(overlap, 1.0))) * 0.99
    return Verdict(passed, score, f"{'' if passed else 'not '}on: bottom edge {gap:.2f} from the top edge (band {band:.2f}), horizontal overlap {overlap:.0%} (needs 50%)")


def _under(s: Box, objects: Sequence[Box]) -> Verdict:
    o = objects[0]
    overlap = _overlap_1d(s[0], s[2], o[0], o[2]) / max(1e-9, min(_width(s), _width(o)))
    lower = _centre(s)[1] > _centre(o)[1] and s[3] >= o[3]
    passed = lower and overlap >= 0.5
    score = 1.0 if passed else 0.5 * lower + 0.49 * min(overlap, 1.0)
    return Verdict(passed, score, f"{'' if passed else 'not '}under: {'lower' if lower else 'not lower'} than the object, horizontal overlap {overlap:.0%} (needs 50%)")


def _inside(s: Box, objects: Sequence[Box]) -> Verdict:
    contained = intersection_area(s, objects[0]) / max(1e-9, _area(s))
    passed = contained >= 0.9
    return Verdict(passed, 1.0 if passed else contained * 0.99, f"{'' if passed else 'not '}inside: {contained:.0%} of the box is within the object (needs 90%)")


def _near(s: Box, objects: Sequence[Box]) -> Verdict:
    o = objects[0]
    (sx, sy), (ox, oy) = _centre(s), _centre(o)
    distance = math.hypot(sx - ox, sy - oy)
    bound = max(_width(s), _height(s)) + max(_width(o), _height(o))
    passed = distance <= bound
    return Verdict(passed, 1.0 if passed else min(0.99, bound / distance), f"{'' if passed else 'not '}near: centres {distance:.2f} apart (bound {bound:.2f})")


def _next_to(s: Box, objects: Sequence[Box]) -> Verdict:
    o = objects[0]
    gap = max(s[0] - o[2], o[0] - s[2])  # negative when they overlap horizontally
    max_gap = 0.5 * max(_width(s), _width(o))
    min_gap = -0.2 * min(_width(s), _width(o))
    vertical = _overlap_1d(s[1], s[3], o[1], o[3]) / max(1e-9, min(_height(s), _height(o)))
    passed = min_gap <= gap <= max_gap and vertical >= 0.5
    score = 1.0 if passed else 0.49 * (min_gap <= gap <= max_gap) + 0.5 * min(vertical, 1.0) * 0.99
    return Verdict(passed, score, f"{'' if passed else 'not '}next to: horizontal gap {gap:.2f} (allowed {min_gap:.2f}..{max_gap:.2f}), vertical overlap {vertical:.0%} (needs 50%)")


def _layered(front: bool) -> Callable[[Box, Sequence[Box]], Verdict]:
    word = "in front of" if front else "behind"

    def check(s: Box, objects: Sequence[Box]) -> Verdict:
        o = objects[0]
        overlap = intersection_area(s, o) / max(1e-9, min(_area(s), _area(o)))
        baseline = s[3] >= o[3] - 0.02 if front else s[3] <= o[3] + 0.02
        passed = overlap > 0.05 and baseline
        score = 1.0 if passed else 0.5 * min(overlap / 0.05, 1.0) * 0.99 + 0.49 * baseline
        where = "lower or level" if front else "higher or level"
        return Verdict(passed, score, f"{'' if passed else 'not '}{word}: overlap {overlap:.0%} of the smaller box (needs 5%), baseline {'is' if baseline else 'is not'} {where}")
    return check


def _between(s: Box, objects: Sequence[Box]) -> Verdict:
    (sx, sy) = _centre(s)
    (ax, ay), (bx, by) = _centre(objects[0]), _centre(objects[1])
    axis = 0 if abs(ax - bx) >= abs(ay - by) else 1
    value, lo, hi = (sx, *sorted((ax, bx))) if axis == 0 else (sy, *sorted((ay, by)))
    passed = lo < value < hi
    span = max(hi - lo, 1e-9)
    score = 1.0 if passed else max(0.0, 0.99 - min(abs(value - lo), abs(value - hi)) / span)
    return Verdict(passed, score, f"{'' if passed else 'not '}between: centre at {value:.2f} on the {'x' if axis == 0 else 'y'} axis, the others at {lo:.2f} and {hi:.2f}")


def _size_ratio(larger: bool, factor: float = 1.5) -> Callable[[Box, Sequence[Box]], Verdict]:
    def check(s: Box, objects: Sequence[Box]) -> Verdict:
        ratio = _area(s) / max(1e-9, _area(objects[0]))
        passed = ratio >= factor if larger else ratio <= 1 / factor
        target = factor if larger else 1 / factor
        score = 1.0 if passed else min(0.99, (ratio / target) if larger else (target / ratio))
        return Verdict(passed, score, f"{'' if passed else 'not '}{'larger' if larger else 'smaller'} than: area ratio {ratio:.2f} (needs {'>=' if larger else '<='} {target:.2f})")
    return check


# --- solver encodings ---------------------------------------------------------------------------
#
# Each encoding states, on the solver's integer grid (``problem.width`` x ``problem.height``
# units, proportional to the canvas' pixels), linear constraints (and disjunctions of them) that
# imply the relation's predicate: every layout the solver returns passes the predicate on its own
# boxes. They are as close to the predicates as a linear model allows, so that relations the
# predicates allow together are allowed together by the encodings (``cup on table`` with ``table
# below cup``; ``dog in front of tree`` with ``dog left of tree``). A :class:`Margins` adds room
# for drawing and detection; :data:`RELAXED` keeps only what exactness on the grid needs.
# ``cx2``/``cy2`` are twice the centre, so that centres stay integer. The derivation of each
# encoding is beside it; ``tests/test_relations.py`` checks them on random boxes.


@dataclass(frozen=True)
class Margins:
    """Room the encodings keep beyond the predicates, for drawing and detection errors.

    Attributes
    ----------
    direction : float
        A direction's shrunk offset exceeds half the centres' distance by this (canvas units).
    share : float
        Added to the overlap share each overlap-based predicate needs (``on``, ``under``,
        ``next_to``: 0.5 of the narrower box; ``in front of``/``behind``: 0.25 a side).
    band : float
        Share of ``on``'s band (how far the bottom edge may be from the top edge) used.
    touch : bool
        ``on``: the bottom edge at or below the object's top edge, never floating above it.
    level : bool
        ``in front of``/``behind``: baselines in order without the predicate's 0.02 of slack,
        and the thing behind shows the top 0.3 of itself above the thing in front.
    inside : float
        The content's side at most this share of the container's, centred (1: anywhere within).
    near : float
        Share of ``near``'s bound used.
    side : float
        ``larger_than``: each side at least this factor (the area needs 1.5).
    apart : float
        ``between``/``next_to``: the axis and gap choices kept this far (share) from a tie.
    separation : float
        Free space between boxes that must not overlap, as a share of the canvas' longer side,
        so that like-colored neighbours stay apart in pixels (1.6 pixels at 64).
    """

    direction: float
    share: float
    band: float
    touch: bool
    level: bool
    inside: float
    near: float
    side: float
    apart: float
    separation: float


#: The margins of a layout to draw: the values of the pixel margins measured in docs/solver.md
#: ("Margins for pixels": 184/198 exact renders pass their own scene, 158/198 without).
STRICT = Margins(direction=0.02, share=0.1, band=0.8, touch=True, level=True, inside=0.4,
                 near=0.9, side=1.35, apart=0.1, separation=0.025)

#: No room beyond the predicates (only what rounding, floating-point ties in the predicates and the
#: linear inner approximations need):
#: used when the strict margins make a scene impossible, to tell that apart from a scene that
#: cannot hold as written.
RELAXED = Margins(direction=0.002, share=0.01, band=0.99, touch=False, level=False, inside=1.0,
                  near=1.0, side=1.2248, apart=0.01, separation=0.0)

#: Facet normals (degrees) of the regular 32-gon that bounds the Euclidean norm from above:
#: |v| <= max_k n_k . v / cos(pi / 32). Directions need the half-plane facing their way only.
_FACETS = [11.25 * k for k in range(-8, 9)]
_NORM_FACTOR = 1 / math.cos(math.pi / 32)

#: Fixed-point scale of the cone's coefficients (their rounding is covered by ``_ROUNDING``).
_Q = 1000
_ROUNDING = 0.003


def _scales(problem) -> tuple[int, int]:
    """Multipliers that turn grid x and y differences into one common normalised unit."""
    W, H = problem.width, problem.height
    g = math.gcd(W, H)
    return H // g, W // g


def _encode_direction(axis: int, sign: int):
    """GenEval's direction rule as a cone: with A the centre offset along the direction, B the
    offset across it and S the summed sizes along it (normalised), the rule is
    ``A - 0.1 S > 0.5 |(A, B)|``. The norm is at most ``max_k n_k . (A, B) / cos(pi/32)`` over
    the 32-gon's facets, so ``A - 0.1 S - 0.5 n_k . (A, B) / cos(pi/32) >= margin`` for the 17
    facets facing the direction implies the rule (the other facets are dominated once A > 0). Two
    directions together ("above and to the right") are the intersection of two cones, a sector.
    """
    def encode(problem, s, objects, margins=None):
        from compose.solvers.model import Expr

        margins = margins or STRICT
        o = objects[0]
        first, second = (s, o) if sign < 0 else (o, s)
        kx, ky = _scales(problem)
        unit = 2 * problem.width * kx  # grid units of 2*W*kx = one normalised unit
        if axis == 0:
            along, across = kx * (second.cx2 - first.cx2), ky * (s.cy2 - o.cy2)
            size = 2 * kx * (s.w + o.w)
            problem.hint_order("x", first.name, second.name)
        else:
            along, across = ky * (second.cy2 - first.cy2), kx * (s.cx2 - o.cx2)
            size = 2 * ky * (s.h + o.h)
            problem.hint_order("y", first.name, second.name)
        out = []
        for degrees in _FACETS:
            t = math.radians(degrees)
            ca = round(_Q * (1 - 0.5 * _NORM_FACTOR * math.cos(t)))
            cb = round(_Q * 0.5 * _NORM_FACTOR * math.sin(t))
            bound = math.ceil(_Q * (margins.direction + _ROUNDING) * unit)
            out.append(Expr.weighted((ca, along), (-cb, across), (-(_Q // 10), size)) >= bound)
        return out
    return encode


def _overlap_at_least(s, o, axis: int, share: float, of) -> list:
    """The overlap along ``axis`` is at least ``share`` of ``of``'s size: an interval overlap
    ``min(a1, b1) - max(a0, b0) >= k`` holds exactly when each of ``a1 - a0``, ``a1 - b0``,
    ``b1 - a0``, ``b1 - b0`` is ``>= k``."""
    from compose.solvers.model import Expr

    lo, hi, size = ("x0", "x1", "w") if axis == 0 else ("y0", "y1", "h")
    k = (-round(100 * share), getattr(of, size))
    s0, s1, o0, o1 = getattr(s, lo), getattr(s, hi), getattr(o, lo), getattr(o, hi)
    return [Expr.weighted((100, a1), (-100, b0), k) >= 0 for a1, b0 in ((s1, s0), (s1, o0), (o1, s0), (o1, o0))]


def _overlap_of_smaller(s, o, axis: int, share: float):
    """The overlap along ``axis`` is at least ``share`` of the smaller size there: at least that
    share of one of the two (whichever it is, the smaller's share is then met)."""
    from compose.solvers.model import AnyOf

    return AnyOf([_overlap_at_least(s, o, axis, share, s), _overlap_at_least(s, o, axis, share, o)])


def _encode_on(problem, s, objects, margins=None):
    """``|bottom - top| <= max(0.02, 0.25 h)`` (one branch per side of the max), the horizontal
    overlap at least half the narrower box, and the centre higher. Strict: the bottom edge at or
    below the top edge (touching, not floating), a smaller band and a larger overlap."""
    from compose.solvers.model import AnyOf

    margins = margins or STRICT
    o = objects[0]
    problem.hint_order("y", s.name, o.name)
    band = round(100 * margins.band)
    gap = s.y1 - o.y0
    by_height = [400 * gap <= band * o.h, 400 * gap >= -(band * o.h)]
    fixed = math.floor(0.02 * problem.height * margins.band)
    by_canvas = [gap <= fixed, gap >= -fixed]
    out = [AnyOf([by_height, by_canvas]), s.cy2 + 1 <= o.cy2,
           _overlap_of_smaller(s, o, 0, 0.5 + margins.share)]
    if margins.touch:
        out.append(s.y1 >= o.y0)
    return out


def _encode_under(problem, s, objects, margins=None):
    """Centre lower, bottom edge lower or level, horizontal overlap at least half the narrower
    box (with no overlap allowed between the boxes, that puts it wholly below)."""
    margins = margins or STRICT
    o = objects[0]
    problem.hint_order("y", o.name, s.name)
    return [s.cy2 >= o.cy2 + 1, s.y1 >= o.y1, _overlap_of_smaller(s, o, 0, 0.5 + margins.share)]


def _encode_inside(problem, s, objects, margins=None):
    """At least 90% of the box within the object: its overlap with the object at least 0.95 of
    its size on both axes (0.9025), or wholly within on one axis and 0.9 on the other. Strict:
    wholly within, at most ``inside`` of the object's size a side and centred within a twentieth
    of it, so that pointed outlines (a triangle, a star, a cross) hold their content and stay
    visible around it."""
    from compose.solvers.model import AnyOf

    margins = margins or STRICT
    o = objects[0]
    if margins.inside < 1:
        share = round(100 * margins.inside)
        return [s.x0 >= o.x0, s.x1 <= o.x1, s.y0 >= o.y0, s.y1 <= o.y1,
                100 * s.w <= share * o.w, 100 * s.h <= share * o.h,
                10 * (s.cx2 - o.cx2) <= o.w, 10 * (s.cx2 - o.cx2) >= -o.w,
                10 * (s.cy2 - o.cy2) <= o.h, 10 * (s.cy2 - o.cy2) >= -o.h]
    return [AnyOf([_overlap_at_least(s, o, 0, 0.95, s) + _overlap_at_least(s, o, 1, 0.95, s),
                   _overlap_at_least(s, o, 0, 1.0, s) + _overlap_at_least(s, o, 1, 0.91, s),
                   _overlap_at_least(s, o, 0, 0.91, s) + _overlap_at_least(s, o, 1, 1.0, s)])]


def _encode_near(problem, s, objects, margins=None):
    """The centres' distance within the bound ``max(w_s, h_s) + max(w_o, h_o)``, which is at
    least each of the four sums of a side of each (one branch each); the distance is at most
    the 16-gon gauge ``max_k n_k . (dx, dy) / cos(pi / 16)`` (fixed-point normals, their
    rounding covered), so at most 2% of the bound is given up."""
    from compose.solvers.model import AnyOf, Expr

    margins = margins or STRICT
    o = objects[0]
    kx, ky = _scales(problem)
    dx, dy = kx * (s.cx2 - o.cx2), ky * (s.cy2 - o.cy2)
    # |rounded n - n| <= 0.0005 a component, so n' . d >= n . d - 0.0008 |d|
    k = math.floor(_Q * (math.cos(math.pi / 16) - 0.0008) * margins.near)
    normals = [(round(_Q * math.cos(t)), round(_Q * math.sin(t)))
               for t in (math.pi * j / 8 for j in range(16))]
    branches = []
    for bound in (2 * kx * s.w + 2 * kx * o.w, 2 * kx * s.w + 2 * ky * o.h,
                  2 * ky * s.h + 2 * kx * o.w, 2 * ky * s.h + 2 * ky * o.h):
        branches.append([Expr.weighted((cx, dx), (cy, dy), (-k, bound)) <= 0 for cx, cy in normals])
    return [AnyOf(branches)]


def _encode_next_to(problem, s, objects, margins=None):
    """Beside the object on either side (the centre on that side, so the predicate's gap is that
    side's), the gap between ``-0.2`` of each width and half of one of them (so at most half
    the larger), and the vertical overlap at least half the lower box."""
    from compose.solvers.model import AnyOf

    margins = margins or STRICT
    o = objects[0]
    lo = round(100 * (0.2 - margins.apart))
    hi = round(100 * (0.5 - margins.apart))
    sides = []
    for gap, order in ((o.x0 - s.x1, s.cx2 <= o.cx2), (s.x0 - o.x1, s.cx2 >= o.cx2)):
        for wider in (s, o):  # at most half the larger width: half of one of them
            sides.append([order, 100 * gap >= -(lo * s.w), 100 * gap >= -(lo * o.w),
                          100 * gap + 1 <= hi * wider.w])
    return [AnyOf(sides), _overlap_of_smaller(s, o, 1, 0.5 + margins.share)]


def _encode_layered(front: bool):
    """The intersection more than 5% of the smaller box: overlaps of a quarter of one box's size
    on both axes give 1/16 of its area, more than 5% of the smaller's; so do a half and 0.11
    (one branch per box and split). The
    baseline lower (in front) or higher (behind), within the predicate's 0.02. Strict: overlaps
    of 0.35 a side, baselines in order, and the thing behind shows its top 0.3 above the thing in
    front, so it is never hidden."""
    from compose.solvers.model import AnyOf

    def encode(problem, s, objects, margins=None):
        margins = margins or STRICT
        o = objects[0]
        share = 0.25 + margins.share
        splits = [(share, share), (0.5 + margins.share, 0.11), (0.11, 0.5 + margins.share)]
        both = [AnyOf([_overlap_at_least(s, o, 0, a, box) + _overlap_at_least(s, o, 1, b, box)
                       for box in (s, o) for a, b in splits])]
        slack = 0 if margins.level else math.floor(0.02 * problem.height) - 1
        front_box, back_box = (s, o) if front else (o, s)
        out = [front_box.y1 + slack >= back_box.y1, *both]
        if margins.level:
            out.append(10 * (front_box.y0 - back_box.y0) >= 3 * back_box.h)
        return out
    return encode


def _encode_between(problem, s, objects, margins=None):
    """Centre strictly between the others' centres on the axis that separates them more (in
    normalised units, by 1% more: the predicate's floats may break an exact tie either way);
    strict: by a tenth more, and 2% of the canvas inside."""
    from compose.solvers.model import AnyOf

    margins = margins or STRICT
    a, b = objects
    kx, ky = _scales(problem)
    # hundredths, and strict on both axes: on a tie the predicate's floats may pick either axis
    factor = round(100 * (1 + margins.apart))
    inset_x = 2 if margins.apart < 0.05 else max(2, round(0.02 * problem.width))
    inset_y = 2 if margins.apart < 0.05 else max(2, round(0.02 * problem.height))
    branches = []
    for first, second in ((a, b), (b, a)):
        dx, dy = kx * (second.cx2 - first.cx2), ky * (second.cy2 - first.cy2)
        branches.append([first.cx2 + inset_x <= s.cx2, s.cx2 + inset_x <= second.cx2,
                         100 * dx >= factor * dy + 1, 100 * dx >= -(factor * dy) + 1])
        branches.append([first.cy2 + inset_y <= s.cy2, s.cy2 + inset_y <= second.cy2,
                         100 * dy >= factor * dx + 1, 100 * dy >= -(factor * dx) + 1])
    return [AnyOf(branches)]


#: Width factors of ``larger than``'s branches: geometric, 1.15 apart, from 0.5 to 2.7 (more
#: branches give up less, but a cycle of them takes CP-SAT longer to prove impossible).
_RATIO_STEPS = tuple(0.5 * 1.15 ** k for k in range(13))


def _encode_size_ratio(larger: bool):
    """The area ratio past 1.5 (or below 1 / 1.5) from the sides: one side by a factor ``a`` and
    the other by ``side^2 / a``, for the factors ``_RATIO_STEPS`` (``side`` = 1.2248 relaxed,
    1.35 strict), each rounded up. Between two steps the staircase gives up at most their ratio
    (1.15) of the area ratio."""
    from compose.solvers.model import AreaRatio

    def encode(problem, s, objects, margins=None):
        margins = margins or STRICT
        o = objects[0]
        big, small = (s, o) if larger else (o, s)
        area = margins.side ** 2
        branches = []
        for a in _RATIO_STEPS:
            b = area / a
            fa, fb = math.ceil(1000 * a), math.ceil(1000 * b)
            branches.append([1000 * big.w >= fa * small.w, 1000 * big.h >= fb * small.h])
        # the staircase for linear programs; the area ratio itself (rounded up) for CP-SAT
        return [AreaRatio(branches, big=big.name, small=small.name, num=math.ceil(10_000 * area), den=10_000)]
    return encode


@dataclass(frozen=True)
class RelationSpec:
    """One relation: its name, its words, its geometry and its verifier predicate.

    Attributes
    ----------
    name : str
        snake_case name used in code and JSON.
    program_words : tuple of str
        How the scene language writes it; the first is canonical (the formatter prints it).
    words : tuple of str
        Further phrasings the prompt parser maps onto it.
    arity : int
        Number of objects (1; 2 for ``between``).
    symmetric : bool
        Whether ``a R b`` means ``b R a``.
    allows_overlap : bool
        Whether the two boxes may overlap (distinct objects otherwise do not).
    z : int
        Drawing order the relation implies for the subject: +1 in front of the object, -1 behind.
    predicate : callable
        ``predicate(subject_box, object_boxes) -> Verdict``.
    encode : callable
        ``encode(problem, subject, objects, margins) -> [constraint, ...]``: the solver encoding
        on a :class:`compose.solvers.Problem`'s grid, which implies ``predicate``, with the room
        of a :class:`Margins` (default :data:`STRICT`).
    """

    name: str
    program_words: tuple[str, ...]
    words: tuple[str, ...] = ()
    arity: int = 1
    symmetric: bool = False
    allows_overlap: bool = False
    z: int = 0
    predicate: Callable[[Box, Sequence[Box]], Verdict] = field(default=_near, repr=False)
    inverse: str | None = None
    encode: Callable | None = field(default=None, repr=False)

    def check(self, subject: Box, objects: Sequence[Box]) -> Verdict:
        """Apply the verifier predicate to boxes."""
        if len(objects) != self.arity:
            raise ValueError(f"{self.name} takes {self.arity} object box(es), got {len(objects)}")
        return self.predicate(tuple(subject), [tuple(o) for o in objects])  # type: ignore[arg-type]

    @property
    def all_words(self) -> tuple[str, ...]:
        return self.program_words + self.words


RELATIONS: dict[str, RelationSpec] = {spec.name: spec for spec in [
    RelationSpec("left_of", ("left of", "to the left of", "on the left of"),
                 ("on the left side of", "to the left side of"), predicate=_direction(0, -1, "left of"),
                 inverse="right_of", encode=_encode_direction(0, -1)),
    RelationSpec("right_of", ("right of", "to the right of", "on the right of"),
                 ("on the right side of", "to the right side of"), predicate=_direction(0, 1, "right of"),
                 inverse="left_of", encode=_encode_direction(0, 1)),
    RelationSpec("above", ("above", "over"), ("higher than",), predicate=_direction(1, -1, "above"),
                 inverse="below", encode=_encode_direction(1, -1)),
    RelationSpec("below", ("below",), ("lower than",), predicate=_direction(1, 1, "below"),
                 inverse="above", encode=_encode_direction(1, 1)),
    RelationSpec("on", ("on", "on top of"), ("sitting on", "resting on", "perched on", "standing on",
                                             "lying on", "placed on", "atop", "upon"),
                 allows_overlap=True, z=1, predicate=_on, encode=_encode_on),
    RelationSpec("under", ("under", "underneath"), ("beneath",), predicate=_under, encode=_encode_under),
    RelationSpec("inside", ("inside", "in", "within"), ("inside of",), allows_overlap=True, z=1,
                 predicate=_inside, encode=_encode_inside),
    RelationSpec("near", ("near", "close to"), ("beside", "around", "nearby", "near to"),
                 symmetric=True, predicate=_near, encode=_encode_near),
    RelationSpec("next_to", ("next to", "beside", "alongside"), ("by the side of", "adjacent to"),
                 symmetric=True, predicate=_next_to, encode=_encode_next_to),
    RelationSpec("in_front_of", ("in front of",), (), allows_overlap=True, z=1,
                 predicate=_layered(True), inverse="behind", encode=_encode_layered(True)),
    RelationSpec("behind", ("behind",), ("in back of",), allows_overlap=True, z=-1,
                 predicate=_layered(False), inverse="in_front_of",
                 encode=_encode_layered(False)),
    RelationSpec("between", ("between",), ("in between", "in the middle of"), arity=2,
                 predicate=_between, encode=_encode_between),
    RelationSpec("larger_than", ("larger than", "bigger than"), ("greater than",),
                 predicate=_size_ratio(True), inverse="smaller_than",
                 encode=_encode_size_ratio(True)),
    RelationSpec("smaller_than", ("smaller than",), ("tinier than",),
                 predicate=_size_ratio(False), inverse="larger_than",
                 encode=_encode_size_ratio(False)),
]}

#: Canonical scene-language phrase of each relation.
CANONICAL_WORDS = {spec.name: spec.program_words[0] for spec in RELATIONS.values()}

#: The four directions GenEval's position category uses, keyed by GenEval's words.
GENEVAL_POSITIONS = {"left of": "left_of", "right of": "right_of", "above": "above", "below": "below"}


def lookup_program_words(phrase: str) -> RelationSpec | None:
    """The relation the scene language means by ``phrase`` (words separated by spaces)."""
    phrase = " ".join(phrase.lower().split())
    for spec in RELATIONS.values():
        if phrase in spec.program_words:
            return spec
    return None


def lookup_words(phrase: str) -> RelationSpec | None:
    """The relation any of its phrasings means, for prompts (program words first).

    >>> lookup_words("on top of").name, lookup_words("beneath").name
    ('on', 'under')
    """
    found = lookup_program_words(phrase)
    if found is not None:
        return found
    phrase = " ".join(phrase.lower().split())
    for spec in RELATIONS.values():
        if phrase in spec.words:
            return spec
    return None


def word_vocabulary() -> set[str]:
    """Every single word used by a program phrase of a relation (the grammar's REL_WORD set)."""
    return {w for spec in RELATIONS.values() for phrase in spec.program_words for w in phrase.split()}
