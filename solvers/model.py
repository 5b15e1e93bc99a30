"""The layout problem: boxes on an integer grid, linear constraints, disjunctions, soft terms.

A :class:`Problem` knows nothing of prompts, scenes or images. It holds one axis-aligned box per
name on a ``width`` x ``height`` grid (origin top-left, y growing downwards), and constraints over
the boxes' coordinates written as linear expressions:

>>> p = Problem(100, 100)
>>> a, b = p.add_box("a", min_size=(10, 10)), p.add_box("b", min_size=(10, 10))
>>> left = a.x1 + 5 <= b.x0
>>> left
Linear(a.x1 - b.x0 <= -5)
>>> p.require(left, tag="a left of b")
>>> p.no_overlap(["a", "b"])
>>> sorted(p.boxes)
['a', 'b']

Every hard constraint carries a *tag*: the statement it came from (any hashable value). When no
layout exists, the solver names the smallest set of tags that cannot hold together. A box's own
bounds (its minimum and maximum size, a fixed position) and its membership of no-overlap sets
carry the box's tag; the canvas bounds always hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

ATTRIBUTES = ("x0", "y0", "x1", "y1", "w", "h")

Tag = Hashable
GridBox = tuple[int, int, int, int]

#: Where an attribute of a box sits in its tuple ``(x0, y0, x1, y1)``; ``w`` and ``h`` are differences.
_CORNER = {"x0": 0, "y0": 1, "x1": 2, "y1": 3}


class Expr:
    """An integer linear expression over box attributes, plus a constant.

    Expressions add, subtract and scale by integers; comparing one with ``<=``, ``>=`` gives a
    :class:`Linear` constraint.

    >>> p = Problem(10, 10); a = p.add_box("a")
    >>> 2 * a.cx2 - a.w
    Expr(2*a.x0 + 2*a.x1 - a.w)
    """

    __slots__ = ("constant", "terms")

    def __init__(self, terms: dict[tuple[str, str], int] | None = None, constant: int = 0):
        self.terms = {k: v for k, v in (terms or {}).items() if v}
        self.constant = constant

    @staticmethod
    def lift(value: Expr | int) -> Expr:
        if isinstance(value, Expr):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"layout expressions take integers, got {value!r}")
        return Expr(constant=value)

    @classmethod
    def _of(cls, terms: dict[tuple[str, str], int], constant: int) -> Expr:
        """An expression that takes ``terms`` as they are (no zeros, not shared): layouts build
        thousands of these, and copying them again is a sizeable share of building a problem."""
        out = cls.__new__(cls)
        out.terms = terms
        out.constant = constant
        return out

    def _combine(self, other: Expr | int, sign: int) -> Expr:
        if other.__class__ is int:  # terms are never changed in place, so they can be shared
            return Expr._of(self.terms, self.constant + sign * other)
        other = Expr.lift(other)
        terms = self.terms.copy()
        for key, coef in other.terms.items():
            value = terms.get(key, 0) + sign * coef
            if value:
                terms[key] = value
            else:
                del terms[key]  # it was there: coef is never 0
        return Expr._of(terms, self.constant + sign * other.constant)

    @staticmethod
    def weighted(*pairs: tuple[int, Expr]) -> Expr:
        """``sum(coef * expr)`` in one pass (encodings build thousands of these).

        >>> p = Problem(10, 10); a, b = p.add_box("a"), p.add_box("b")
        >>> Expr.weighted((2, a.cx2), (-1, b.x0), (1, a.x1))
        Expr(2*a.x0 + 3*a.x1 - b.x0)
        """
        terms: dict[tuple[str, str], int] = {}
        constant = 0
        for coef, expr in pairs:
            constant += coef * expr.constant
            for key, c in expr.terms.items():
                terms[key] = terms.get(key, 0) + coef * c
        return Expr._of({k: v for k, v in terms.items() if v}, constant)

    def __add__(self, other: Expr | int) -> Expr:
        return self._combine(other, 1)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return Expr._of({k: -v for k, v in self.terms.items()}, -self.constant)

    def __sub__(self, other: Expr | int) -> Expr:
        return self._combine(other, -1)

    def __rsub__(self, other: Expr | int) -> Expr:
        return Expr.lift(other) - self

    def __mul__(self, factor: int) -> Expr:
        if factor.__class__ is not int and (isinstance(factor, bool) or not isinstance(factor, int)):
            raise TypeError(f"layout expressions scale by integers, got {factor!r}")
        if factor == 1:
            return self
        if not factor:
            return Expr()
        return Expr._of({k: v * factor for k, v in self.terms.items()}, self.constant * factor)

    __rmul__ = __mul__

    def __le__(self, other: Expr | int) -> Linear:  # type: ignore[override]
        if other.__class__ is int:
            return Linear(Expr._of(self.terms, 0), None, other - self.constant)
        diff = self - other
        return Linear(Expr._of(diff.terms, 0), None, -diff.constant)

    def __ge__(self, other: Expr | int) -> Linear:  # type: ignore[override]
        if other.__class__ is int:
            return Linear(Expr._of(self.terms, 0), other - self.constant, None)
        diff = self - other
        return Linear(Expr._of(diff.terms, 0), -diff.constant, None)

    def between(self, lo: int | None, hi: int | None) -> Linear:
        """``lo <= self <= hi``; ``None`` leaves a side open."""
        shift = self.constant
        return Linear(Expr(self.terms), None if lo is None else lo - shift,
                      None if hi is None else hi - shift)

    def evaluate(self, boxes: dict[str, GridBox]) -> int:
        """The value of the expression on boxes ``{name: (x0, y0, x1, y1)}``."""
        total = self.constant
        for (name, attr), coef in self.terms.items():
            box = boxes[name]
            k = _CORNER.get(attr)
            total += coef * (box[k] if k is not None else box[2] - box[0] if attr == "w" else box[3] - box[1])
        return total

    def boxes(self) -> set[str]:
        return {name for name, _ in self.terms}

    def __repr__(self) -> str:
        return f"Expr({self._text()})"

    def _text(self) -> str:
        parts = []
        for (name, attr), coef in self.terms.items():
            sign = "-" if coef < 0 else "+"
            mag = "" if abs(coef) == 1 else f"{abs(coef)}*"
            parts.append(f"{sign} {mag}{name}.{attr}")
        if self.constant or not parts:
            parts.append(f"{'-' if self.constant < 0 else '+'} {abs(self.constant)}")
        text = " ".join(parts)
        return text[2:] if text.startswith("+ ") else "-" + text[2:]


@dataclass(frozen=True)
class BoxRef:
    """A handle on one box of a problem: its coordinates as expressions."""

    name: str

    def _attr(self, attr: str) -> Expr:
        return Expr._of({(self.name, attr): 1}, 0)

    @property
    def x0(self) -> Expr:
        return self._attr("x0")

    @property
    def y0(self) -> Expr:
        return self._attr("y0")

    @property
    def x1(self) -> Expr:
        return self._attr("x1")

    @property
    def y1(self) -> Expr:
        return self._attr("y1")

    @property
    def w(self) -> Expr:
        return self._attr("w")

    @property
    def h(self) -> Expr:
        return self._attr("h")

    @property
    def cx2(self) -> Expr:
        """Twice the centre's x (an integer even on an integer grid)."""
        return Expr._of({(self.name, "x0"): 1, (self.name, "x1"): 1}, 0)

    @property
    def cy2(self) -> Expr:
        """Twice the centre's y."""
        return Expr._of({(self.name, "y0"): 1, (self.name, "y1"): 1}, 0)


class Linear:
    """``lo <= expr <= hi`` (one side may be open)."""

    __slots__ = ("expr", "hi", "lo")

    def __init__(self, expr: Expr, lo: int | None, hi: int | None):
        self.expr, self.lo, self.hi = expr, lo, hi

    def holds(self, boxes: dict[str, GridBox]) -> bool:
        """Whether the constraint holds on boxes ``{name: (x0, y0, x1, y1)}``."""
        value = self.expr.evaluate(boxes)
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)

    def boxes(self) -> set[str]:
        """The names of the boxes it constrains."""
        return self.expr.boxes()

    def __repr__(self) -> str:
        text = self.expr._text()
        if self.lo is not None and self.hi is not None:
            return f"Linear({self.lo} <= {text} <= {self.hi})"
        return f"Linear({text} <= {self.hi})" if self.lo is None else f"Linear({text} >= {self.lo})"


@dataclass
class AnyOf:
    """A disjunction: at least one branch (a conjunction of :class:`Linear`) holds.

    Each branch gets a reified boolean in the backend.
    """

    branches: list[list[Linear]]

    def holds(self, boxes: dict[str, GridBox]) -> bool:
        return any(all(c.holds(boxes) for c in branch) for branch in self.branches)

    def boxes(self) -> set[str]:
        """The names of the boxes any branch constrains."""
        return {name for branch in self.branches for lin in branch for name in lin.expr.boxes()}


@dataclass
class AreaRatio(AnyOf):
    """``num * area(small) <= den * area(big)``: the area of ``big`` at least ``num / den`` times that
    of ``small``, which no linear constraint can say.

    It holds exactly when the product of the sides does (:meth:`holds`). ``branches`` are
    linear conjunctions each implying it (a staircase of side ratios): what a linear program
    can use, as for any :class:`AnyOf`. CP-SAT states the products themselves
    (``AddMultiplicationEquality``), so layouts whose area ratio falls between two steps of
    the staircase stay allowed.

    >>> p = Problem(100, 100); a = p.add_box("a"); b = p.add_box("b")
    >>> ratio = AreaRatio([[2 * a.w >= 3 * b.w, a.h >= b.h]], big="a", small="b", num=3, den=2)
    >>> ratio.holds({"a": (0, 0, 12, 10), "b": (50, 50, 60, 58)})   # 120 >= 1.5 * 80, no branch
    True
    >>> ratio.holds({"a": (0, 0, 11, 10), "b": (50, 50, 60, 58)})
    False
    """

    big: str = ""
    small: str = ""
    num: int = 1
    den: int = 1

    def holds(self, boxes: dict[str, GridBox]) -> bool:
        bx0, by0, bx1, by1 = boxes[self.big]
        sx0, sy0, sx1, sy1 = boxes[self.small]
        return self.num * (sx1 - sx0) * (sy1 - sy0) <= self.den * (bx1 - bx0) * (by1 - by0)

    def boxes(self) -> set[str]:
        return {self.big, self.small}


Constraint = "Linear | AnyOf"


@dataclass
class BoxSpec:
    """One box: size bounds, an optional fixed position, and the tag of its declaration."""

    name: str
    min_w: int = 1
    min_h: int = 1
    max_w: int | None = None
    max_h: int | None = None
    fixed: GridBox | None = None
    tag: Tag | None = None


@dataclass
class Requirement:
    constraint: Linear | AnyOf
    tag: Tag | None


@dataclass
class Preference:
    """A soft constraint: ``weight`` is lost when it does not hold."""

    constraints: list[Linear | AnyOf]
    weight: int


@dataclass
class Target:
    """A soft term: ``weight * |expr - value|`` is lost."""

    expr: Expr
    value: int
    weight: int


@dataclass
class NoOverlap:
    """Boxes of ``names`` pairwise do not overlap, except the pairs in ``allowed``; ``gap`` grid
    units of free space are kept between them (so that like-colored neighbours stay apart in
    pixels)."""

    names: list[str]
    allowed: set[frozenset[str]] = field(default_factory=set)
    gap: int = 0


@dataclass
class Problem:
    """Boxes on a ``width`` x ``height`` integer grid, and what must and should hold of them.

    Parameters
    ----------
    width, height : int
        The grid; boxes lie within ``0..width`` x ``0..height``.
    """

    width: int
    height: int
    boxes: dict[str, BoxSpec] = field(default_factory=dict)
    requirements: list[Requirement] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    separations: list[NoOverlap] = field(default_factory=list)
    hint: dict[str, GridBox] = field(default_factory=dict)
    order: list[tuple[str, str, str]] = field(default_factory=list)
    descriptions: dict[Tag, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.width < 2 or self.height < 2:
            raise ValueError(f"grid {self.width} x {self.height} is too small; expected at least 2 x 2")

    def add_box(self, name: str, *, min_size: tuple[int, int] = (1, 1),
                max_size: tuple[int, int] | None = None, fixed: GridBox | None = None,
                tag: Tag | None = None) -> BoxRef:
        """Declare a box; ``fixed`` pins it to ``(x0, y0, x1, y1)`` on the grid."""
        if name in self.boxes:
            raise ValueError(f"box {name!r} is declared twice")
        if fixed is not None:
            x0, y0, x1, y1 = fixed
            if not (0 <= x0 < x1 <= self.width and 0 <= y0 < y1 <= self.height):
                raise ValueError(f"fixed box {fixed} is outside the {self.width} x {self.height} grid")
        max_w, max_h = max_size if max_size is not None else (None, None)
        self.boxes[name] = BoxSpec(name, max(1, min_size[0]), max(1, min_size[1]), max_w, max_h,
                                   fixed, tag)
        return BoxRef(name)

    def box(self, name: str) -> BoxRef:
        if name not in self.boxes:
            raise KeyError(name)
        return BoxRef(name)

    def require(self, constraint: Linear | AnyOf | Iterable[Linear | AnyOf], tag: Tag | None = None) -> None:
        """Add hard constraints, tagged with the statement they came from."""
        items = [constraint] if isinstance(constraint, (Linear, AnyOf)) else list(constraint)
        for item in items:
            self._check_names(item)
            self.requirements.append(Requirement(item, tag))

    def require_any(self, branches: Sequence[Sequence[Linear]], tag: Tag | None = None) -> None:
        """At least one of ``branches`` (each a conjunction) holds."""
        self.require(AnyOf([list(b) for b in branches]), tag)

    def prefer(self, constraints: Linear | AnyOf | Sequence[Linear | AnyOf], weight: int) -> None:
        """A soft conjunction: ``weight`` is lost when it does not hold."""
        items = [constraints] if isinstance(constraints, (Linear, AnyOf)) else list(constraints)
        for item in items:
            self._check_names(item)
        self.preferences.append(Preference(items, int(weight)))

    def target(self, expr: Expr, value: int, weight: int) -> None:
        """A soft term: ``weight * |expr - value|`` is lost."""
        self.targets.append(Target(expr, int(value), int(weight)))

    def no_overlap(self, names: Sequence[str], allowed: Iterable[tuple[str, str]] = (), *, gap: int = 0) -> None:
        """The boxes ``names`` pairwise do not overlap, except the ``allowed`` pairs, and keep
        ``gap`` grid units apart."""
        for name in names:
            if name not in self.boxes:
                raise KeyError(name)
        if gap < 0:
            raise ValueError(f"gap must be >= 0, got {gap}")
        self.separations.append(NoOverlap(list(names), {frozenset(p) for p in allowed}, gap))

    def hint_order(self, axis: str, first: str, second: str) -> None:
        """Say that ``first`` comes before ``second`` along ``axis`` ("x" or "y"); the greedy
        starting point respects it where it can."""
        self.order.append((axis, first, second))

    def describe(self, tag: Tag, text: str) -> None:
        """How error messages show ``tag``."""
        self.descriptions[tag] = text

    def tags(self) -> list[Tag]:
        """Every tag in the problem, in the order first used."""
        seen: dict[Tag, None] = {}
        for spec in self.boxes.values():
            if spec.tag is not None:
                seen.setdefault(spec.tag)
        for req in self.requirements:
            if req.tag is not None:
                seen.setdefault(req.tag)
        return list(seen)

    def _check_names(self, item: Linear | AnyOf) -> None:
        for name in sorted(item.boxes()):
            if name not in self.boxes:
                raise KeyError(f"constraint refers to undeclared box {name!r}")

    # --- checking a solution ------------------------------------------------------------------

    def violations(self, boxes: dict[str, GridBox]) -> list[str]:
        """What a candidate solution breaks: an empty list when every hard constraint holds.

        >>> p = Problem(10, 10); a = p.add_box("a"); b = p.add_box("b")
        >>> p.require(a.x1 <= b.x0, tag="a left of b")
        >>> p.violations({"a": (0, 0, 2, 2), "b": (1, 0, 3, 2)})
        ['a left of b']
        """
        out = []
        for name, spec in self.boxes.items():
            x0, y0, x1, y1 = boxes[name]
            if not (0 <= x0 < x1 <= self.width and 0 <= y0 < y1 <= self.height):
                out.append(f"{name} outside the grid")
            if x1 - x0 < spec.min_w or y1 - y0 < spec.min_h:
                out.append(f"{name} below its minimum size")
            if spec.fixed is not None and tuple(boxes[name]) != tuple(spec.fixed):
                out.append(f"{name} moved from its fixed box")
        for req in self.requirements:
            if not req.constraint.holds(boxes):
                out.append(str(self.descriptions.get(req.tag, req.tag)))
        for sep in self.separations:
            for a, b in _overlapping_pairs(sep.names, boxes, sep.gap):
                if frozenset((a, b)) not in sep.allowed:
                    out.append(f"{a} overlaps {b}" + (f" (or is within {sep.gap} of it)" if sep.gap else ""))
        return out


def _overlapping_pairs(names: list[str], boxes: dict[str, GridBox], gap: int) -> list[tuple[str, str]]:
    """The pairs of ``names`` whose boxes :func:`overlap`, in the order of ``names``."""
    if len(names) < 32:
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if overlap(boxes[a], boxes[b], gap)]
    import numpy as np

    # every pair at once, in integers as overlap() does
    b = np.array([boxes[n] for n in names], dtype=np.int64)
    i, j = np.triu_indices(len(names), 1)
    hit = (np.minimum(b[i, 2], b[j, 2]) + gap > np.maximum(b[i, 0], b[j, 0])) & \
          (np.minimum(b[i, 3], b[j, 3]) + gap > np.maximum(b[i, 1], b[j, 1]))
    return [(names[p], names[q]) for p, q in zip(i[hit].tolist(), j[hit].tolist())]


def overlap(a: GridBox, b: GridBox, gap: int = 0) -> bool:
    """Whether two grid boxes share interior area, or come closer than ``gap`` on both axes.

    >>> overlap((0, 0, 2, 2), (2, 0, 4, 2)), overlap((0, 0, 2, 2), (1, 1, 3, 3))
    (False, True)
    >>> overlap((0, 0, 2, 2), (3, 0, 5, 2), gap=1), overlap((0, 0, 2, 2), (3, 0, 5, 2), gap=2)
    (False, True)
    """
    return min(a[2], b[2]) + gap > max(a[0], b[0]) and min(a[3], b[3]) + gap > max(a[1], b[1])


@dataclass
class Solution:
    """Boxes on the grid, plus how the solver got there."""

    boxes: dict[str, GridBox]
    status: str
    objective: float | None = None
    wall_time: float = 0.0
    backend: str = ""
    seed: int = 0


def clique_cover(names: list[str], allowed: set[frozenset[str]]) -> list[list[str]]:
    """Groups of boxes, each pairwise forbidden to overlap, that together cover every pair of
    ``names`` not in ``allowed``; one group when nothing is allowed.

    Boxes with no allowed partner belong to every group; each group adds a maximal set of the
    others no two of which may overlap, chosen greedily for the pairs still uncovered, so that
    a few allowed pairs (a cat on its mat) cost a few groups, not one per box.

    >>> clique_cover(["a", "b", "c", "d"], {frozenset(("a", "b"))})
    [['a', 'c', 'd'], ['b', 'c', 'd']]
    """
    partners: dict[str, set[str]] = defaultdict(set)
    for pair in allowed:
        if len(pair) == 2:
            a, b = tuple(pair)
            partners[a].add(b)
            partners[b].add(a)
    involved = [n for n in names if partners[n]]
    if not involved:
        return [list(names)] if len(names) > 1 else []
    import numpy as np

    index = {n: i for i, n in enumerate(involved)}
    k = len(involved)
    may_overlap = np.zeros((k, k), dtype=bool)
    for v in involved:
        for u in partners[v]:
            if u in index:
                may_overlap[index[v], index[u]] = True
    # the pairs among the involved boxes that no group holds yet
    uncovered = ~may_overlap & ~np.eye(k, dtype=bool)
    unplaced = np.ones(k, dtype=bool)
    rng = np.random.default_rng(k)  # fixed: the same problem, the same groups
    cliques = []
    while unplaced.any() or uncovered.any():
        # seed: the box with the most pairs to cover; then, one at a time, the box that covers
        # the most pairs with the members so far (ties broken at random, which mixes the sides
        # of allowed pairs across groups, so that few groups cover every pair)
        need = uncovered.sum(axis=1)
        seed = int(np.argmax(need + unplaced * (k + 1)))
        members = [seed]
        blocked = may_overlap[seed].copy()
        blocked[seed] = True
        score = uncovered[:, seed].astype(np.float64)
        while True:
            gain = np.where(blocked, -1.0, score + rng.random(k))
            best = int(np.argmax(gain))
            if gain[best] < 0:  # maximal: adding more covers more pairs and costs nothing
                break
            members.append(best)
            blocked |= may_overlap[best]
            blocked[best] = True
            score += uncovered[:, best]
        ids = np.array(members)
        uncovered[np.ix_(ids, ids)] = False
        unplaced[ids] = False
        chosen = {involved[i] for i in members}
        cliques.append([n for n in names if n in chosen or not partners[n]])
    return [c for c in cliques if len(c) > 1]
