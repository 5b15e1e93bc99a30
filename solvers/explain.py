"""Fast explanations: conflicts that a linear program or an area count proves.

Two kinds of impossible scene are common and need no search to explain. A *linear* conflict (a
cycle of left-of, an inside with larger-than) is infeasible already as a linear program over the
boxes' coordinates, with every disjunction and no-overlap rule left out: :func:`linear_core`
finds it with GLOP and shrinks it by deletion, each step one incremental solve. An *overfull*
canvas (boxes that must not overlap needing more area at their smallest than there is) is
explained by :func:`area_core`: the largest boxes, until their area passes the canvas'.

Both answers are minimal for the reading that proves them: dropping any one tag makes the linear
program feasible, or the area fit. :class:`~solvers.cpsat.CpSatBackend` then checks the area
answer with CP-SAT, and falls back to CP-SAT's own cores when neither applies.

>>> p = Problem(100, 100)
>>> a, b, c = (p.add_box(n, min_size=(10, 10), tag=n) for n in "abc")
>>> p.require(a.x1 <= b.x0, tag="a<b"); p.require(b.x1 <= c.x0, tag="b<c"); p.require(c.x1 <= a.x0, tag="c<a")
>>> linear_core(p)
['a<b', 'b<c', 'c<a']
"""

from __future__ import annotations

from .model import AnyOf, Linear, Problem, Tag, clique_cover
from .relax import base_columns, relaxed_layout


def linear_core(problem: Problem, *, deadline: float | None = None,
                shrink: bool = True) -> list[Tag] | None:
    """A minimal set of tags whose linear constraints (and box bounds) admit no real solution,
    or ``None`` when the linear reading of the whole problem is feasible (or time runs out).
    ``shrink=False`` returns every tag at once (the proof, without the minimal set)."""
    import time

    from ortools.linear_solver import pywraplp

    # CLP: its dual simplex restarts from the last basis, which makes each deletion step cheap
    lp = pywraplp.Solver.CreateSolver("CLP")
    inf = lp.infinity()
    W, H = problem.width, problem.height
    names = list(problem.boxes)
    index = {n: i for i, n in enumerate(names)}
    cols = []
    for _ in names:  # x0, y0, w, h; a box is at least one unit a side whatever its tag
        cols += [lp.NumVar(0, W - 1, ""), lp.NumVar(0, H - 1, ""), lp.NumVar(1, W, ""), lp.NumVar(1, H, "")]
    rows: dict[Tag, list[tuple[object, float, float]]] = {}

    def add(tag: Tag, coefs: dict[int, float], lo: float, hi: float) -> None:
        ct = lp.RowConstraint(lo, hi, "")
        for col, c in coefs.items():
            ct.SetCoefficient(cols[col], c)
        rows.setdefault(tag, []).append((ct, lo, hi))

    for name in names:
        i = 4 * index[name]
        add(None, {i: 1, i + 2: 1}, -inf, W)
        add(None, {i + 1: 1, i + 3: 1}, -inf, H)
        spec = problem.boxes[name]
        if spec.fixed is not None:
            x0, y0, x1, y1 = spec.fixed
            for k, v in enumerate((x0, y0, x1 - x0, y1 - y0)):
                add(spec.tag, {i + k: 1}, v, v)
        else:
            add(spec.tag, {i + 2: 1}, min(spec.min_w, W), spec.max_w if spec.max_w is not None else inf)
            add(spec.tag, {i + 3: 1}, min(spec.min_h, H), spec.max_h if spec.max_h is not None else inf)

    def linears(c) -> list[Linear]:
        if isinstance(c, Linear):
            return [c]
        if isinstance(c, AnyOf) and len(c.branches) == 1:
            return list(c.branches[0])
        return []  # a disjunction: left out (a relaxation)

    for req in problem.requirements:
        for lin in linears(req.constraint):
            coefs = base_columns(lin, index)
            # tightened by a hair, so that a floating-point "feasible" never hides a conflict
            # the integers have; a conflict must hold with room to spare to be reported
            add(req.tag, coefs, -inf if lin.lo is None else lin.lo, inf if lin.hi is None else lin.hi)

    def feasible() -> bool | None:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        status = lp.Solve()
        if status == pywraplp.Solver.INFEASIBLE:
            return False
        return True if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) else None

    def switch(tag: Tag, on: bool) -> None:
        for ct, lo, hi in rows.get(tag, []):
            ct.SetBounds(lo, hi) if on else ct.SetBounds(-inf, inf)

    if feasible() is not False:
        return None
    core = [t for t in problem.tags() if t in rows]
    if not shrink:
        return core
    # deletion by chunks: a chunk that can go goes at once (and the next is twice as long), one
    # that cannot is halved down to the single tag that is then needed
    i, size = 0, max(1, len(core) // 8)
    while i < len(core):
        chunk = core[i:i + size]
        for tag in chunk:
            switch(tag, False)
        answer = feasible()
        if answer is None:
            return None
        if answer is False:
            core = core[:i] + core[i + size:]
            size *= 2
            continue
        for tag in chunk:
            switch(tag, True)
        if size == 1:
            i += 1
        else:
            size //= 2
    return core


def pair_core(problem: Problem, *, deadline: float | None = None,
              shrink: bool = True) -> list[Tag] | None:
    """A minimal set of tags whose linear constraints on the same two boxes cannot hold together
    (``a in front of b`` with ``b in front of a``), or ``None``.

    Only pairs of boxes that two or more statements constrain are read: one linear program over
    those pairs' own constraints, which is small and, on a scene with no such conflict, solved
    in about a millisecond, where the linear reading of the whole problem (:func:`linear_core`)
    takes tens of milliseconds at 100 boxes.

    >>> p = Problem(100, 100)
    >>> a, b, c = (p.add_box(n, min_size=(10, 10), tag=n) for n in "abc")
    >>> p.require(a.x1 <= b.x0, tag="a<b"); p.require(b.x1 <= a.x0, tag="b<a"); p.require(b.x1 <= c.x0, tag="b<c")
    >>> pair_core(p)
    ['a<b', 'b<a']
    """
    linear = []  # (requirement, its boxes): disjunctions are left out, as linear_core does
    by_pair: dict[frozenset[str], set[Tag]] = {}
    for req in problem.requirements:
        c = req.constraint
        if isinstance(c, Linear) or len(c.branches) == 1:
            names = frozenset(c.boxes())
            linear.append((req, names))
            if len(names) == 2:
                by_pair.setdefault(names, set()).add(req.tag)
    pairs = {pair for pair, tags in by_pair.items() if len(tags) > 1}
    if not pairs:
        return None
    sub = Problem(problem.width, problem.height)
    for name in set().union(*pairs):
        sub.boxes[name] = problem.boxes[name]
    sub.requirements = [req for req, names in linear
                        if names in pairs or len(names) == 1 and next(iter(names)) in sub.boxes]
    sub.descriptions = problem.descriptions
    return linear_core(sub, deadline=deadline, shrink=shrink)


def area_core(problem: Problem) -> list[Tag] | None:
    """The tags of the fewest boxes of one no-overlap clique that cannot fit, or ``None``.

    Two counts prove it: the largest boxes until their smallest areas pass the canvas', and a
    lattice bound. Boxes at least ``a`` wide and ``b`` tall (gaps included) on a grid each hold
    a point of the lattice ``(k a - 1, l b - 1)`` in their extent, distinct points for boxes that
    do not overlap, so at most ``floor(W / a) floor(H / b)`` of them fit; one more cannot.
    """
    W, H = problem.width, problem.height
    best: list[str] | None = None
    for sep in problem.separations:
        g = sep.gap
        for clique in clique_cover(sep.names, sep.allowed):
            sizes = {}
            for name in clique:
                spec = problem.boxes[name]
                if spec.fixed is not None:
                    x0, y0, x1, y1 = spec.fixed
                    sizes[name] = (x1 - x0, y1 - y0)
                else:
                    sizes[name] = (min(spec.min_w, W), min(spec.min_h, H))
            by_area = sorted(clique, key=lambda n: -sizes[n][0] * sizes[n][1])
            total, chosen = 0, []
            for name in by_area:
                total += sizes[name][0] * sizes[name][1]
                chosen.append(name)
                if total > W * H:
                    if best is None or len(chosen) < len(best):
                        best = chosen
                    break
            widths = sorted({w for w, _ in sizes.values()})[-64:]
            heights = sorted({h for _, h in sizes.values()})[-64:]
            for a in widths:
                for b in heights:
                    members = [n for n in clique if sizes[n][0] >= a and sizes[n][1] >= b]
                    room = ((W + g) // (a + g)) * ((H + g) // (b + g))
                    if len(members) > room and (best is None or room + 1 < len(best)):
                        # the smallest of them: the likeliest to fit once one is dropped
                        members.sort(key=lambda n: sizes[n][0] * sizes[n][1])
                        best = members[:room + 1]
    if best is None:
        return None
    tags: dict[Tag, None] = {}
    for name in best:
        tags.setdefault(problem.boxes[name].tag)
    if None in tags:
        return None  # an untagged box: its bounds always hold, so say nothing partial
    return list(tags)


def subproblem(problem: Problem, tags: list[Tag]) -> Problem:
    """The problem with only ``tags``' constraints: a box whose tag is left out keeps no size
    bounds and no share of the no-overlap rule (as in CP-SAT's explaining model); boxes that
    nothing kept mentions are left out."""
    keep = set(tags)
    reqs = [r for r in problem.requirements if r.tag in keep]
    used = {n for n, spec in problem.boxes.items() if spec.tag in keep}
    for r in reqs:
        c = r.constraint
        lins = [c] if isinstance(c, Linear) else [lin for b in c.branches for lin in b]
        for lin in lins:
            used |= lin.expr.boxes()
    sub = Problem(problem.width, problem.height)
    for name in problem.boxes:
        if name not in used:
            continue
        spec = problem.boxes[name]
        if spec.tag in keep:
            sub.add_box(name, min_size=(spec.min_w, spec.min_h),
                        max_size=None if spec.max_w is None else (spec.max_w, spec.max_h or problem.height),
                        fixed=spec.fixed, tag=spec.tag)
        else:
            sub.add_box(name)
    sub.requirements = list(reqs)
    for sep in problem.separations:
        names = [n for n in sep.names if n in used and problem.boxes[n].tag in keep]
        if len(names) > 1:
            sub.no_overlap(names, [tuple(p) for p in sep.allowed if p <= set(names)], gap=sep.gap)
    sub.order = [o for o in problem.order if o[1] in used and o[2] in used]
    return sub


def witness(problem: Problem) -> bool:
    """Whether a quick layout (shelves, then the linear programs) holds every constraint: then
    the problem is feasible. ``False`` proves nothing."""
    from .greedy import shelf_pack

    if not problem.boxes:
        return True
    if not problem.violations(shelf_pack(problem)):
        return True
    boxes, complete = relaxed_layout(problem, seconds=0.5)
    return bool(complete) and not problem.violations(boxes)
