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
from dataclasses import dataclass, field
from typing import Callable, Sequence

Box = tuple[float, float, float, float]

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


def _area(b: Box) -> float:
    return max(0.0, _width(b)) * max(0.0, _height(b))


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def intersection_area(a: Box, b: Box) -> float:
    """Area of the intersection of two boxes.

    >>> intersection_area((0, 0, 2, 2), (1, 1, 3, 3))
    1
    """
    return _overlap_1d(a[0], a[2], b[0], b[2]) * _overlap_1d(a[1], a[3], b[1], b[3])


def geneval_offset(a: Box, b: Box) -> tuple[float, float] | None:
    """GenEval's normalised, margin-shrunk offset of ``a`` relative to ``b``.

    Centre offsets shrink towards zero by ``0.1 * (size_a + size_b)`` per axis and are divided by
    the length of the unshrunk offset. ``None`` when both shrunk components vanish (no relation).

    >>> geneval_offset((0.0, 0.0, 0.2, 0.2), (0.6, 0.0, 0.8, 0.2))
    (-0.933..., 0.0)
    >>> geneval_offset((0.0, 0.0, 0.2, 0.2), (0.03, 0.0, 0.23, 0.2)) is None
    True
    """
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    ox, oy = ax - bx, ay - by
    rx = max(abs(ox) - GENEVAL_POSITION_THRESHOLD * (_width(a) + _width(b)), 0.0) * math.copysign(1, ox)
    ry = max(abs(oy) - GENEVAL_POSITION_THRESHOLD * (_height(a) + _height(b)), 0.0) * math.copysign(1, oy)
    if abs(rx) < 1e-3 and abs(ry) < 1e-3:
        return None
    norm = math.hypot(ox, oy)
    return rx / norm, ry / norm


def geneval_relations(a: Box, b: Box) -> set[str]:
    """The set of GenEval position words that hold for ``a`` relative to ``b``.

    This is GenEval's ``relative_position`` rule, word for word.

    >>> sorted(geneval_relations((0.0, 0.0, 0.2, 0.2), (0.6, 0.6, 0.8, 0.8)))
    ['above', 'left of']
    """
    offset = geneval_offset(a, b)
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
# units, proportional to the canvas' pixels), linear constraints that are strictly stronger than
# the relation's predicate, with a margin, so that every layout the solver returns passes the
# predicate on its own boxes. ``cx2``/``cy2`` are twice the centre, so that centres stay integer.
# The derivation of each margin is beside its encoding; ``tests/test_placement_properties.py``
# checks them on random boxes.

def _aligned(s, o, axis: int) -> list:
    """Centres closer than 0.4 of the narrower box along ``axis``: then the overlap along that
    axis is at least 0.6 of the narrower box (>= 0.5, as ``on``/``under``/``next_to`` need).

    With d the centre distance and m <= M the two sizes, the overlap is
    min(m, M, (m + M) / 2 - d) >= min(m, 0.1 m + 0.5 M) >= 0.6 m when d <= 0.4 m.
    """
    c = (s.cx2 - o.cx2) if axis == 0 else (s.cy2 - o.cy2)  # 2 d, signed
    out = []
    for size in ((s.w, o.w) if axis == 0 else (s.h, o.h)):
        out += [5 * c <= 4 * size, 5 * c >= -(4 * size)]  # |2d| <= 0.8 size
    return out


def _overlapping(s, o, fraction_of, tenths: int = 3) -> list:
    """The overlap on each axis is at least ``tenths``/10 of ``fraction_of``'s size on it, so the
    intersection is at least (tenths/10)^2 of that box's area (0.09 > 0.05 for 3).

    An interval overlap min(a1, b1) - max(a0, b0) >= k holds exactly when each of the four
    differences a1 - a0, a1 - b0, b1 - a0, b1 - b0 is >= k.
    """
    out = []
    for lo, hi, size in (("x0", "x1", "w"), ("y0", "y1", "h")):
        k = tenths * getattr(fraction_of, size)
        s0, s1, o0, o1 = (getattr(s, lo), getattr(s, hi), getattr(o, lo), getattr(o, hi))
        out += [10 * (s1 - s0) >= k, 10 * (s1 - o0) >= k, 10 * (o1 - s0) >= k, 10 * (o1 - o0) >= k]
    return out


def _encode_direction(axis: int, sign: int):
    """GenEval's direction with a gap: the boxes are apart along ``axis`` (gap >= 1% of the grid)
    and the centre offset across it is at most the offset along it, in normalised units.

    Derivation (left of; the others are mirror images). Let o = c_A - c_B per axis, S the sum of
    the widths. Apart along x gives |o_x| >= S / 2, so GenEval's shrunk |o_x| - 0.1 S >= 0.8 |o_x|;
    with |o_y| <= |o_x| the norm is <= sqrt(2) |o_x|, so the normalised dx <= -0.8 / sqrt(2)
    = -0.566 < -0.5. The y component may pass its own threshold too, which GenEval allows.
    In grid units (W x H), |o_y| / H <= |o_x| / W is W |2 o_y| <= H |2 o_x|.
    """
    def encode(problem, s, objects):
        o = objects[0]
        first, second = (s, o) if sign < 0 else (o, s)
        W, H = problem.width, problem.height
        if axis == 0:
            gap = max(1, W // 100)
            along, across = second.cx2 - first.cx2, s.cy2 - o.cy2
            problem.hint_order("x", first.name, second.name)
            return [first.x1 + gap <= second.x0, W * across <= H * along, W * across >= -(H * along)]
        gap = max(1, H // 100)
        along, across = second.cy2 - first.cy2, s.cx2 - o.cx2
        problem.hint_order("y", first.name, second.name)
        return [first.y1 + gap <= second.y0, H * across <= W * along, H * across >= -(W * along)]
    return encode


def _encode_on(problem, s, objects):
    """Bottom edge at or up to 0.2 of the object's height below its top (the band is 0.25 of it or
    0.02), horizontally aligned (overlap >= 0.6 of the narrower), centre higher."""
    o = objects[0]
    problem.hint_order("y", s.name, o.name)
    return [s.y1 >= o.y0, 5 * (s.y1 - o.y0) <= o.h, s.cy2 + 1 <= o.cy2, *_aligned(s, o, 0)]


def _encode_under(problem, s, objects):
    """Wholly below the object (so centre lower and bottom edge lower), horizontally aligned."""
    o = objects[0]
    problem.hint_order("y", o.name, s.name)
    return [s.y0 >= o.y1, *_aligned(s, o, 0)]


def _encode_inside(problem, s, objects):
    """At most 0.4 of the object's size on each axis and centred on it within a twentieth of its
    size, so wholly within (an inset of at least 0.25 of the object a side; 100% >= 90%), and
    within the outline of pointed shapes too (a triangle, a star, a cross), which stay visible
    around it."""
    o = objects[0]
    return [5 * s.w <= 2 * o.w, 5 * s.h <= 2 * o.h,
            10 * (s.cx2 - o.cx2) <= o.w, 10 * (s.cx2 - o.cx2) >= -o.w,
            10 * (s.cy2 - o.cy2) <= o.h, 10 * (s.cy2 - o.cy2) >= -o.h]


def _encode_near(problem, s, objects):
    """Centre offsets at most 0.65 of the summed sizes per axis. The predicate's bound B is at
    least the summed widths and the summed heights, so the distance is <= 0.65 sqrt(2) B
    = 0.92 B."""
    o = objects[0]
    dx, dy = s.cx2 - o.cx2, s.cy2 - o.cy2
    return [10 * dx <= 13 * (s.w + o.w), 10 * dx >= -(13 * (s.w + o.w)),
            10 * dy <= 13 * (s.h + o.h), 10 * dy >= -(13 * (s.h + o.h))]


def _encode_next_to(problem, s, objects):
    """Beside the object on either side with a gap of 0 .. 0.4 of the subject's width (allowed:
    -0.2 min .. 0.5 max of the widths), vertically aligned (overlap >= 0.6 of the lower one)."""
    from compose.solvers.model import AnyOf

    o = objects[0]
    left = [s.x1 <= o.x0, 5 * (o.x0 - s.x1) <= 2 * s.w]
    right = [o.x1 <= s.x0, 5 * (s.x0 - o.x1) <= 2 * s.w]
    return [AnyOf([left, right]), *_aligned(s, o, 1)]


def _encode_layered(front: bool):
    """Overlapping by at least 0.3 of a box's size per axis (0.09 of its area > 5% of the
    smaller), baseline lower or level (in front) or higher or level (behind). The share is of the
    subject in front and of the object behind: whichever is usually the smaller thing in front.
    The thing behind shows its top 0.3 above the thing in front, so it is never hidden."""
    def encode(problem, s, objects):
        o = objects[0]
        if front:
            return [s.y1 >= o.y1, 10 * (s.y0 - o.y0) >= 3 * o.h, *_overlapping(s, o, s)]
        return [s.y1 <= o.y1, 10 * (o.y0 - s.y0) >= 3 * s.h, *_overlapping(s, o, o)]
    return encode


def _encode_between(problem, s, objects):
    """Centre strictly between the others' centres (by one grid unit) on the axis that separates
    them; that axis separates them by a tenth more than the other, in normalised units, so the
    predicate picks the same axis."""
    from compose.solvers.model import AnyOf

    a, b = objects
    W, H = problem.width, problem.height
    branches = []
    for first, second in ((a, b), (b, a)):
        dx, dy = second.cx2 - first.cx2, second.cy2 - first.cy2
        branches.append([first.cx2 + 2 <= s.cx2, s.cx2 + 2 <= second.cx2,
                         10 * H * dx >= 11 * W * dy, 10 * H * dx >= -(11 * W * dy)])
        branches.append([first.cy2 + 2 <= s.cy2, s.cy2 + 2 <= second.cy2,
                         10 * W * dy >= 11 * H * dx, 10 * W * dy >= -(11 * H * dx)])
    return [AnyOf(branches)]


def _encode_size_ratio(larger: bool):
    """Each side at least 1.35 times the other's (area ratio >= 1.82 > 1.5), or at most 1 / 1.35
    (area ratio <= 0.55 < 1 / 1.5): a margin that a pixel of drawing or detection error at 64
    pixels does not eat."""
    def encode(problem, s, objects):
        o = objects[0]
        if larger:
            return [20 * s.w >= 27 * o.w, 20 * s.h >= 27 * o.h]
        return [27 * s.w <= 20 * o.w, 27 * s.h <= 20 * o.h]
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
        ``encode(problem, subject, objects) -> [constraint, ...]``: the solver encoding on a
        :class:`compose.solvers.Problem`'s grid, strictly stronger than ``predicate``.
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
