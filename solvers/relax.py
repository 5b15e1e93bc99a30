"""A fast starting point: linear programs with lazily added separations (CLP, incremental).

Boxes start at their soft targets. Each round solves one linear program: the problem's linear
constraints (for a disjunction, the branch nearest to holding at the current boxes), the
canvas, the size bounds, one separating constraint for every forbidden pair found overlapping
so far (on the side that needs the least movement), and the soft targets as a weighted L1
objective. Rounds stop when no forbidden pair overlaps. Constraints are tightened by the
rounding error, so the rounded boxes satisfy them on the integer grid.

A batch of choices (branches, sides) enters a program as rows that may break at a high cost
(an elastic program): one solve says which choices clash, where adding them all and halving the
batch on failure took a solve per halving. Only the clashing ones try their next choices.

This is a heuristic (the branch and side choices are greedy): it hands the exact solver a
starting point that usually satisfies everything; when no choice of a disjunction or pair fits
the earlier ones it leaves that one broken and reports the layout incomplete. The exact solver
always decides.

>>> p = Problem(100, 100)
>>> a, b = p.add_box("a", min_size=(30, 30)), p.add_box("b", min_size=(30, 30))
>>> p.require(b.x1 + 5 <= a.x0)
>>> p.no_overlap(["a", "b"])
>>> boxes, complete = relaxed_layout(p)
>>> boxes["b"][2] + 5 <= boxes["a"][0], p.violations(boxes)
(True, [])
"""

from __future__ import annotations

from .model import GridBox, Linear, Problem

#: Disjunctions whose nearest branches enter one elastic program together (on 100-object scenes
#: 32 was faster than 8, 64 or all at once).
DISJUNCTION_CHUNK = 32

#: Cost of a grid unit by which a chosen branch or separation breaks, while the program finds
#: out which choices clash: far above any soft term's weight, so that nothing breaks that can hold.
ELASTIC = 1000.0

#: Elastic programs per batch of choices: what still clashes after them is left broken.
ELASTIC_ROUNDS = 3


#: attribute -> offsets of the base variables (x0, y0, w, h) it sums: x1 = x0 + w, y1 = y0 + h
_BASE = {"x0": (0,), "y0": (1,), "w": (2,), "h": (3,), "x1": (0, 2), "y1": (1, 3)}


def base_columns(lin: Linear, index: dict[str, int]) -> dict[int, float]:
    """``lin``'s coefficients on the base variables: column ``4 i + k`` is x0, y0, w or h
    (``k`` = 0..3) of the box at ``index[name] = i``; x1 and y1 are x0 + w and y0 + h.

    >>> p = Problem(10, 10); a, b = p.add_box("a"), p.add_box("b")
    >>> base_columns(a.x1 - b.x0 <= 0, {"a": 0, "b": 1})
    {0: 1, 2: 1, 4: -1}
    >>> base_columns(a.x1 - a.w >= 0, {"a": 0})   # the w terms cancel
    {0: 1}
    """
    out: dict[int, float] = {}
    get = out.get
    for (name, attr), coef in lin.expr.terms.items():
        i = 4 * index[name]
        for k in _BASE[attr]:
            out[i + k] = get(i + k, 0) + coef
    return {col: c for col, c in out.items() if c}


def relaxed_layout(problem: Problem, *, rounds: int = 40, seconds: float | None = None,
                   guide: dict[str, GridBox] | None = None) -> tuple[dict[str, GridBox], bool]:
    """Boxes on the grid, and whether every round's program was feasible (then the boxes usually
    satisfy ``problem``; else they are the last feasible round's, a starting point only; ``None``
    when the first program, the conjunctions alone, is infeasible).
    ``seconds`` bounds the time it takes (it then gives up, returning ``False``). With ``guide``
    (boxes, a layout found another way), branches and separation sides are chosen where they
    hold on the guide, not where the programs' boxes are: the result is then the layout nearest
    the targets with the guide's arrangement.

    >>> p = Problem(100, 100)
    >>> a, b = p.add_box("a", min_size=(30, 30)), p.add_box("b", min_size=(30, 30))
    >>> p.no_overlap(["a", "b"])
    >>> p.target(a.x0, 0, 1); p.target(b.x0, 0, 1)     # both want the left edge
    >>> boxes, _ = relaxed_layout(p, guide={"a": (0, 60, 30, 90), "b": (0, 0, 30, 30)})
    >>> boxes["b"][3] < boxes["a"][1]                  # b stays above a, as in the guide
    True
    """
    import functools
    import time

    import numpy as np
    from ortools.linear_solver import pywraplp

    from .greedy import shelf_pack

    names = list(problem.boxes)
    index = {n: i for i, n in enumerate(names)}
    n_base = 4 * len(names)
    W, H = problem.width, problem.height
    lp = pywraplp.Solver.CreateSolver("CLP")
    inf = lp.infinity()

    # the starting point: packed, then moved and sized to the soft targets where there are any
    start = np.zeros(n_base)
    for name, (x0, y0, x1, y1) in shelf_pack(problem).items():
        start[4 * index[name]:4 * index[name] + 4] = (x0, y0, x1 - x0, y1 - y0)
    for target in problem.targets:
        terms = target.expr.terms
        if len(terms) == 1:
            ((name, attr), coef), = terms.items()
            if attr in ("w", "h") and coef == 1 and problem.boxes[name].fixed is None:
                start[4 * index[name] + (2 if attr == "w" else 3)] = target.value

    variables = []
    for name in names:
        spec = problem.boxes[name]
        if spec.fixed is not None:
            x0, y0, x1, y1 = spec.fixed
            ranges = [(x0, x0), (y0, y0), (x1 - x0, x1 - x0), (y1 - y0, y1 - y0)]
        else:
            ranges = [(0, W), (0, H), (spec.min_w + 0.5, max(spec.min_w + 0.5, min(W, spec.max_w or W))),
                      (spec.min_h + 0.5, max(spec.min_h + 0.5, min(H, spec.max_h or H)))]
        variables += [lp.NumVar(lo, hi, "") for lo, hi in ranges]

    columns: dict[int, tuple[dict[int, float], float]] = {}  # by id: the problem holds each Linear

    def columns_of(lin: Linear) -> tuple[dict[int, float], float]:
        """``lin``'s base columns and the sum of their magnitudes, computed once."""
        known = columns.get(id(lin))
        if known is None:
            coefs = base_columns(lin, index)
            known = columns[id(lin)] = (coefs, float(sum(abs(c) for c in coefs.values())))
        return known

    def violation(lin: Linear, point) -> float:
        """How far ``point`` is from meeting ``lin``, in grid units (scaled by the coefficients)."""
        coefs, size = columns_of(lin)
        value = sum(c * point[k] for k, c in coefs.items())
        scale = max(1.0, size)
        if lin.lo is not None and value < lin.lo:
            return (lin.lo - value) / scale
        if lin.hi is not None and value > lin.hi:
            return (value - lin.hi) / scale
        return 0.0

    def row(coefs: dict[int, float], lo: float, hi: float):
        ct = lp.RowConstraint(lo, hi, "")
        for col, coef in coefs.items():
            ct.SetCoefficient(variables[col], coef)
        return ct

    def spec(lin: Linear) -> tuple[dict[int, float], float, float]:
        """``lin`` as a row: coefficients and bounds, tightened by the rounding to the grid."""
        coefs, size = columns_of(lin)
        slack = 0.5 * size + 0.5
        return coefs, -inf if lin.lo is None else lin.lo + slack, inf if lin.hi is None else lin.hi - slack

    def add(lin: Linear):
        return row(*spec(lin))

    def elastic(ct, sign: float):
        """A variable that lets ``ct`` break (by ``sign`` times it) at ``ELASTIC`` a unit."""
        give = lp.NumVar(0, inf, "")
        objective.SetCoefficient(give, ELASTIC)
        ct.SetCoefficient(give, sign)
        return give

    def broken(gives) -> bool:
        return any(g.solution_value() > 1e-6 for g in gives)

    def harden(gives) -> None:
        for give in gives:
            give.SetUb(0)

    for name in names:  # on the canvas
        i = 4 * index[name]
        row({i: 1, i + 2: 1}, -inf, W - 1.0)
        row({i + 1: 1, i + 3: 1}, -inf, H - 1.0)
    disjunctions = []
    for req in problem.requirements:
        c = req.constraint
        if isinstance(c, Linear):
            row(*spec(c))
        elif len(c.branches) == 1:
            for lin in c.branches[0]:
                row(*spec(lin))
        else:
            disjunctions.append(c)

    # objective: weighted L1 distance to the targets, one auxiliary variable each
    objective = lp.Objective()
    for target in problem.targets:
        if target.weight <= 0:
            continue
        dev = lp.NumVar(0, inf, "")
        objective.SetCoefficient(dev, target.weight)
        coefs = base_columns(Linear(target.expr, None, None), index)
        value = float(target.value - target.expr.constant)
        ct = row(coefs, -inf, value)
        ct.SetCoefficient(dev, -1)  # expr - dev <= value
        ct = row(coefs, value, inf)
        ct.SetCoefficient(dev, 1)  # expr + dev >= value
    objective.SetMinimization()

    deadline = None if seconds is None else time.perf_counter() + seconds
    skipped = 0

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    def solve():
        if out_of_time():
            return None
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        return np.array([v.solution_value() for v in variables])

    def drop(cts) -> None:
        for ct in cts:
            ct.SetBounds(-inf, inf)

    groups = []
    for sep in problem.separations:
        if len(sep.names) < 2:
            continue
        ids = np.array([index[n] for n in sep.names], dtype=int)
        allowed = np.eye(len(ids), dtype=bool)
        # two fixed boxes: no program moves them apart, so their pair is not one to separate
        held = np.array([problem.boxes[n].fixed is not None for n in sep.names])
        allowed |= held[:, None] & held[None, :]
        pos = {n: k for k, n in enumerate(sep.names)}
        for pair in sep.allowed:
            a, b = tuple(pair)
            allowed[pos[a], pos[b]] = allowed[pos[b], pos[a]] = True
        groups.append((ids, allowed, sep.gap))

    # A box that no other requirement mentions moves at no cost: violations that such a box can
    # mend weigh little when choosing a branch (a "between"'s subject, say, versus the pair).
    mentions: dict[str, int] = {}
    for req in problem.requirements:
        for name in req.constraint.boxes():
            mentions[name] = mentions.get(name, 0) + 1
    free = {n for n, k in mentions.items() if k == 1 and problem.boxes[n].fixed is None}

    frees: dict[int, float] = {}

    def branch_cost(branch, point) -> float:
        total = 0.0
        for lin in branch:
            weight = frees.get(id(lin))
            if weight is None:
                weight = frees[id(lin)] = 0.1 if lin.expr.boxes() & free else 1.0
            total += violation(lin, point) * weight
        return total

    guide_point = None
    if guide is not None:
        guide_point = np.zeros(n_base)
        for name, (x0, y0, x1, y1) in guide.items():
            guide_point[4 * index[name]:4 * index[name] + 4] = (x0, y0, x1 - x0, y1 - y0)

    def at(point):
        """Where choices are made: the guide when there is one."""
        return point if guide_point is None else guide_point

    def commit(items, options, point):
        """Hold one option of each item (a disjunction's branch, a separation's side), the nearest
        at ``point`` first, as rows allowed to break at ``ELASTIC`` a unit: one program then says
        which options clash; those items try their next options so, for ``ELASTIC_ROUNDS``.
        ``options(item, point)`` lists (key, a function giving its row specs), nearest first
        (only the first option not yet tried is turned into rows). Returns (point, items
        left without an option that fits), or (None, []) when time runs out.

        (Trying what still clashes one option at a time, as a last step, laid out no more
        planted scenes and took seconds on dense ones: each infeasible program is slow.)
        """
        tried = [set() for _ in items]
        pending = list(range(len(items)))  # by position: items need not be hashable
        for _ in range(ELASTIC_ROUNDS):
            added = []
            for n in pending:
                fresh = [(key, make) for key, make in options(items[n], at(point)) if key not in tried[n]]
                if fresh:
                    key, make = fresh[0]
                    specs = make()
                    tried[n].add(key)
                    rows = [row(*sp) for sp in specs]
                    gives = [elastic(ct, sign) for ct, (_, lo, hi) in zip(rows, specs)
                             for sign, bound in ((1.0, lo), (-1.0, -hi)) if bound > -inf]
                    added.append((n, rows, gives))
            if not added:
                break
            trial = solve()
            if trial is None:
                return None, []
            breaks = {n for n, _, gives in added if broken(gives)}  # read before changing
            for n, rows, gives in added:
                if n in breaks:
                    drop(rows)
                harden(gives)
            point = trial  # where the boxes went, the clashing rows aside: near a layout that fits
            if not breaks:
                return point, []
            held = {n for n, _, _ in added} - breaks
            pending = [n for n in pending if n not in held]
        point = solve()  # the optimum of what holds
        if point is None:
            return None, []
        return point, [items[n] for n in pending]  # no option fits the others: left to the search

    # Every branch's violation at a point, in one product: choosing a branch reads each of its
    # rows, and a disjunction of near's has 64 (a fifth of a 100-object linear start in Python).
    first_branch, row_of_branch = {}, []
    coo_rows, coo_cols, coo_vals, row_lo, row_hi, row_scale, row_weight = [], [], [], [], [], [], []
    for c in disjunctions:
        first_branch[id(c)] = len(row_of_branch)
        for branch in c.branches:
            row_of_branch.append(len(row_lo))
            for lin in branch:
                coefs, size = columns_of(lin)
                coo_rows += [len(row_lo)] * len(coefs)
                coo_cols += coefs.keys()
                coo_vals += coefs.values()
                row_lo.append(-np.inf if lin.lo is None else lin.lo)
                row_hi.append(np.inf if lin.hi is None else lin.hi)
                row_scale.append(max(1.0, size))
                row_weight.append(0.1 if lin.expr.boxes() & free else 1.0)
    coo_rows, coo_cols, coo_vals = np.array(coo_rows, dtype=int), np.array(coo_cols, dtype=int), np.array(coo_vals)
    row_lo, row_hi = np.array(row_lo), np.array(row_hi)
    row_factor = np.array(row_weight) / np.array(row_scale)
    row_of_branch = np.array(row_of_branch, dtype=int)
    costs_at: list = [None, None]  # the last point, and its branches' costs

    def branch_costs(point):
        if costs_at[0] is not point:
            values = np.bincount(coo_rows, weights=coo_vals * point[coo_cols], minlength=len(row_lo))
            short = np.maximum(np.maximum(row_lo - values, values - row_hi), 0.0) * row_factor
            costs_at[:] = point, np.add.reduceat(short, row_of_branch) if len(row_of_branch) else short
        return costs_at[1]

    def branches(c, point):
        start = first_branch[id(c)]
        costs = branch_costs(point)[start:start + len(c.branches)]
        return [(int(k), functools.partial(specs_of, c.branches[k])) for k in np.argsort(costs, kind="stable")]

    def specs_of(branch):
        return [spec(lin) for lin in branch]

    separated: set[tuple[int, int]] = set()
    # Round 0: the conjunctions alone.
    point = solve()
    if point is None:
        # None: even the conjunctions (tightened for rounding) have no real solution
        return _grid(problem, names, start), (None if not out_of_time() else False)
    # Round 1: each disjunction's nearest branch that the program still allows.
    for k in range(0, len(disjunctions), DISJUNCTION_CHUNK):
        solved, missed = commit(disjunctions[k:k + DISJUNCTION_CHUNK], branches, point)
        if solved is None:
            return _grid(problem, names, point), False
        skipped += len(missed)
        point = solved
    # Preferences, heaviest first: each is kept as a constraint where the program still allows it.
    for pref in sorted(problem.preferences, key=lambda pr: -pr.weight):
        cts = []
        for item in pref.constraints:
            lins = [item] if isinstance(item, Linear) else min(item.branches, key=lambda b: branch_cost(b, at(point)))
            cts += [add(lin) for lin in lins]
        trial = solve()
        if trial is None:
            drop(cts)
        else:
            point = trial
    # Later rounds: forbidden pairs overlapping (with a margin) are separated on the side that
    # needs the least movement, so that the sides follow the relations.
    def sides(pair, point):
        """For i left of j, j left of i, i above j, j above i (the least movement first): the
        row that separates them, ``gap`` + 2 apart (2: a margin for rounding to the grid)."""
        i, j, gap = pair
        box = point.reshape(-1, 4)
        bi, bj = box[i], box[j]
        moves = [bi[0] + bi[2] - bj[0], bj[0] + bj[2] - bi[0], bi[1] + bi[3] - bj[1], bj[1] + bj[3] - bi[1]]
        options = [(i, j, 0), (j, i, 0), (i, j, 1), (j, i, 1)]
        out = []
        for k in np.argsort(moves, kind="stable"):
            first, second, axis = options[k]
            f, s = 4 * first, 4 * second
            out.append((int(k), functools.partial(list, [({f + axis: 1, f + axis + 2: 1, s + axis: -1}, -inf, -2.0 - gap)])))
        return out

    for _ in range(rounds):
        box = point.reshape(-1, 4)
        new = []
        for ids, allowed, gap in groups:
            b = box[ids]
            x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
            ox = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])
            oy = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
            hit = np.triu((ox > -1.5 - gap) & (oy > -1.5 - gap) & ~allowed)
            for a, c in zip(*np.nonzero(hit)):
                i, j = int(ids[a]), int(ids[c])
                if (i, j) in separated:
                    continue
                separated.add((i, j))
                new.append((i, j, gap))
        if not new:
            return _grid(problem, names, point), skipped == 0
        solved, missed = commit(new, sides, point)
        if solved is None:
            return _grid(problem, names, point), False
        skipped += len(missed)
        point = solved
    return _grid(problem, names, point), False


def _grid(problem: Problem, names: list[str], point) -> dict[str, GridBox]:
    out: dict[str, GridBox] = {}
    for name, (x0, y0, w, h) in zip(names, point.reshape(-1, 4)):
        spec = problem.boxes[name]
        if spec.fixed is not None:
            out[name] = spec.fixed
            continue
        # int(): NumPy 1.x's round of a float64 is a float64, and grid boxes are Python ints
        w = min(problem.width, max(spec.min_w, int(round(w))))  # noqa: RUF046
        h = min(problem.height, max(spec.min_h, int(round(h))))  # noqa: RUF046
        gx0 = min(problem.width - w, max(0, int(round(x0))))  # noqa: RUF046
        gy0 = min(problem.height - h, max(0, int(round(y0))))  # noqa: RUF046
        out[name] = (gx0, gy0, gx0 + w, gy0 + h)
    return out
