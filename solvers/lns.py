"""Mending a start that breaks a few constraints: large neighbourhood search with CP-SAT.

The linear start (:mod:`solvers.relax`) usually ends one to ten constraints short on dense
scenes (a ``between`` whose axis was chosen badly, a pair left overlapping), and one CP-SAT search
over the whole problem often cannot repair that from its hint in seconds. Here each step frees
a few boxes around what is broken (the boxes of a broken constraint, the boxes that share
constraints with them, the boxes next to them on the canvas), holds every other box where it is,
and solves that small problem with CP-SAT, minimising how many of the constraints and forbidden
pairs that touch a freed box are broken. The boxes as they are satisfy that model, so a step
never makes things worse; a step that finds nothing better tries another neighbourhood, and
after a few, larger ones. A neighbourhood is confined to a window of the canvas around its
boxes, so that a step costs about the same on a canvas of 20 boxes or of 1,000. Before each
CP-SAT step comes a cheaper *linear step* (:func:`_linear_step`): the boxes around one broken
constraint freed, the linear programs of :mod:`solvers.relax` pulling them to where they are;
past a few hundred boxes, where a CP-SAT step takes up to a second, it mends most of what the
projections leave. ``CONCURRENT_STEPS`` CP-SAT steps search at once in threads (CP-SAT releases
the GIL), each with one worker and its own seed, so the answer does not depend on the cores.

>>> p = Problem(100, 100)
>>> names = [f"b{i}" for i in range(8)]
>>> for name in names:
...     _ = p.add_box(name, min_size=(10, 10))
>>> p.no_overlap(names)
>>> start = {n: (12 * i, 0, 12 * i + 10, 10) for i, n in enumerate(names)}
>>> start["b7"] = start["b6"]  # one pair overlaps
>>> boxes, done = neighbourhood_search(p, start, seed=0, deadline=float("inf"))
>>> done, p.violations(boxes)
(True, [])
"""

from __future__ import annotations

import math
import random
import time

from .model import GridBox, NoOverlap, Problem, Requirement

#: Boxes freed by a first step; after ``ATTEMPTS`` steps in a row that find nothing (each a
#: different random neighbourhood), steps free ``GROWTH`` times as many.
FIRST_NEIGHBOURHOOD = 8
ATTEMPTS = 3
GROWTH = 2

#: Neighbourhoods smaller than this are not searched (the caller's search over the whole
#: problem is quicker); at most this factor of a step's effort is spent once they are as
#: large as the problem.
SMALLEST_PROBLEM = 6

#: Boxes a step frees at most: a model of hundreds of freed boxes takes seconds to build, past
#: any deadline, and one search over the whole problem is the caller's.
LARGEST_NEIGHBOURHOOD = 64

#: Problems with more movable boxes than this take one place's neighbourhood for their CP-SAT
#: steps, and a CP-SAT step only after every ``ATTEMPTS`` linear steps that mend nothing.
LOCAL_FROM = 200

#: Whether a linear step (:func:`_linear_step`) comes before each CP-SAT step.
LINEAR_STEPS = True

#: Boxes a linear step frees (at first, and at most), and the seconds its programs may take.
LINEAR_NEIGHBOURHOOD = 24
LARGEST_LINEAR_NEIGHBOURHOOD = 96
LINEAR_STEP_SECONDS = 0.5

#: Largest neighbourhood model (in boxes, held ones included) that CP-SAT presolves.
PRESOLVE_UP_TO = 30
MAX_EFFORT = 4.0

#: A window reaches this share of its boxes' extent past them on every side, and at least 0.15
#: of the canvas on problems of up to ``WINDOW_BOXES`` boxes (on larger ones, less by the square
#: root of their number: a window then holds about as many boxes).
WINDOW_REACH = 0.5
WINDOW_BOXES = 30

#: Deterministic seconds a step's CP-SAT search may use, per freed box (and at least the first):
#: on the 100 slowest of planted scenes 2000-2999, after 1,500 sweeps of projections, 98 mended
#: within 3 s (96 within 1 s) against 97 (93) with a third of it.
STEP_EFFORT = (0.1, 0.01)

#: CP-SAT steps searched at the same time, each on its own neighbourhood, from the same boxes:
#: on the planted benchmark at 2 s on a slow 2-core machine, 31 of 2,000 left unlaid against 39.
CONCURRENT_STEPS = 2


class _Index:
    """What touches what: requirements by box, and the forbidden pairs overlapping now."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.names = list(problem.boxes)
        self.position = {n: i for i, n in enumerate(self.names)}
        self.movable = {n for n in self.names if problem.boxes[n].fixed is None}
        self.boxes_of = [req.constraint.boxes() for req in problem.requirements]
        self.by_box: dict[str, list[int]] = {n: [] for n in self.names}
        for i, boxes in enumerate(self.boxes_of):
            for name in boxes:
                self.by_box[name].append(i)

    def broken(self, boxes: dict[str, GridBox]) -> tuple[list[int], list[tuple[str, str]]]:
        """The requirements that do not hold, and the forbidden pairs that overlap."""
        import numpy as np

        problem = self.problem
        failing = [i for i, req in enumerate(problem.requirements) if not req.constraint.holds(boxes)]
        pairs = []
        for sep in problem.separations:
            if len(sep.names) < 2:
                continue
            b = np.array([boxes[n] for n in sep.names], dtype=np.int64)
            ox = np.minimum(b[:, None, 2], b[None, :, 2]) + sep.gap > np.maximum(b[:, None, 0], b[None, :, 0])
            oy = np.minimum(b[:, None, 3], b[None, :, 3]) + sep.gap > np.maximum(b[:, None, 1], b[None, :, 1])
            for i, j in zip(*np.nonzero(np.triu(ox & oy, 1))):
                a, c = sep.names[i], sep.names[j]
                if frozenset((a, c)) not in sep.allowed:
                    pairs.append((a, c))
        return failing, pairs

    def broken_touching(self, boxes: dict[str, GridBox], freed: set[str]) -> tuple[list[int], list[tuple[str, str]]]:
        """The requirements on a box of ``freed`` that do not hold, and the forbidden pairs with one
        that overlap: what moving ``freed`` can change."""
        import numpy as np

        problem = self.problem
        failing = [i for i in sorted({i for n in freed for i in self.by_box[n]})
                   if not problem.requirements[i].constraint.holds(boxes)]
        pairs = []
        for sep in problem.separations:
            rows = [k for k, n in enumerate(sep.names) if n in freed]
            if not rows or len(sep.names) < 2:
                continue
            b = np.array([boxes[n] for n in sep.names], dtype=np.int64)
            f = b[rows]
            hit = (np.minimum(f[:, None, 2], b[None, :, 2]) + sep.gap > np.maximum(f[:, None, 0], b[None, :, 0])) & \
                  (np.minimum(f[:, None, 3], b[None, :, 3]) + sep.gap > np.maximum(f[:, None, 1], b[None, :, 1]))
            for r, k in zip(*np.nonzero(hit)):
                i = rows[r]
                a, c = sep.names[i], sep.names[k]
                if k == i or (c in freed and k < i) or frozenset((a, c)) in sep.allowed:
                    continue  # itself, a pair of freed boxes counted once, or allowed
                pairs.append((a, c) if i < k else (c, a))
        return failing, pairs


def neighbourhood_search(problem: Problem, start: dict[str, GridBox], *, seed: int,
                         deadline: float, linear: bool | None = None) -> tuple[dict[str, GridBox], bool]:
    """Boxes that break fewer constraints than ``start`` (none, when the second value is true).

    Parameters
    ----------
    problem : Problem
        The problem; its fixed boxes stay where they are.
    start : dict
        A box for every name of ``problem`` (the linear start's, say).
    seed : int
        Seeds the choice of neighbourhoods and CP-SAT's search: the same seed, the same boxes
        (unless ``deadline`` cuts the search short).
    deadline : float
        ``time.perf_counter()`` value at which to stop and return the best boxes so far.
    linear : bool, optional
        Try a linear step (:func:`_linear_step`) around one broken constraint before each CP-SAT
        step (default: ``LINEAR_STEPS``).
    """
    rng = random.Random(f"lns:{seed}")
    index = _Index(problem)
    movable = index.movable
    boxes = {n: tuple(start[n]) for n in index.names}
    size = FIRST_NEIGHBOURHOOD
    misses = 0  # steps in a row that found nothing
    effort = 1.0
    step = 0
    linear = LINEAR_STEPS if linear is None else linear
    linear_size, linear_misses = LINEAR_NEIGHBOURHOOD, 0
    large = len(movable) > LOCAL_FROM
    failing, pairs = index.broken(boxes)
    while (failing or pairs) and time.perf_counter() < deadline:
        broken_sets = [index.boxes_of[i] & movable for i in failing] + [{a, c} & movable for a, c in pairs]
        broken_sets = [s for s in broken_sets if s]
        if not broken_sets:
            break  # only fixed boxes break it: nothing to move
        # the whole problem is the caller's (one search there can also prove there is no layout)
        size = min(size, len(movable) - 1, LARGEST_NEIGHBOURHOOD)
        if size < SMALLEST_PROBLEM:
            break  # so few boxes that one search over them all is quicker
        if linear:
            # first a linear step around one broken constraint: cheap, and kept when it mends;
            # after ATTEMPTS in a row that do not, around twice as many boxes
            local = _local_neighbourhood(index, boxes, broken_sets, movable, linear_size, rng)
            moved = _linear_step(problem, index, boxes, local, deadline=deadline)
            if moved is not None:
                trial = {**boxes, **moved}
                now_failing, now_pairs = index.broken_touching(trial, local)
                was_failing, was_pairs = index.broken_touching(boxes, local)
                if len(now_failing) + len(now_pairs) < len(was_failing) + len(was_pairs):
                    boxes = trial
                    # what does not touch the moved boxes stays as it was
                    gone_f, gone_p = set(was_failing), set(was_pairs)
                    failing = sorted({i for i in failing if i not in gone_f} | set(now_failing))
                    pairs = [q for q in pairs if q not in gone_p] + now_pairs
                    linear_misses, linear_size = 0, LINEAR_NEIGHBOURHOOD
                    continue
            linear_misses += 1
            if linear_misses % ATTEMPTS == 0:
                linear_size = min(GROWTH * linear_size, LARGEST_LINEAR_NEIGHBOURHOOD)
            elif large:
                continue  # a CP-SAT step there costs 0.1-1 s: one after every ATTEMPTS linear misses
        # on a large problem, one place: broken constraints far apart make a window of the canvas
        choose = _local_neighbourhood if large else _neighbourhood
        neighbourhoods = [choose(index, boxes, broken_sets, movable, size, rng) for _ in range(CONCURRENT_STEPS)]
        found_all = _solve_neighbourhoods(problem, index, boxes, neighbourhoods, failing, pairs, seed=seed + step,
                                          deadline=deadline, effort=effort)
        step += len(neighbourhoods)
        before = len(failing) + len(pairs)
        for k, found in enumerate(found_all):
            if found is None:
                continue
            if k == 0:
                boxes.update(found)  # as good as before at least, perhaps a move sideways
                failing, pairs = index.broken(boxes)
                continue
            # found from the boxes as they were before the first: kept only where it still helps
            trial = {**boxes, **found}
            now_failing, now_pairs = index.broken(trial)
            if len(now_failing) + len(now_pairs) < len(failing) + len(pairs):
                boxes, failing, pairs = trial, now_failing, now_pairs
        if len(failing) + len(pairs) >= before:
            misses += 1  # nothing better here (perhaps a move sideways): try elsewhere, then wider
            if misses % ATTEMPTS == 0:
                if size >= LARGEST_NEIGHBOURHOOD:
                    continue  # as wide as a step may be: other neighbourhoods of that size
                if size >= len(movable) - 1:
                    if effort >= MAX_EFFORT:
                        break  # perhaps there is no layout: the caller's search can tell
                    effort *= GROWTH  # as wide as it gets: search longer instead
                size *= GROWTH
            continue
        misses = 0
        size = max(FIRST_NEIGHBOURHOOD, size // GROWTH)
    return boxes, not failing and not pairs


def _neighbourhood(index: _Index, boxes, broken_sets: list[set[str]], movable: set[str], size: int,
                   rng: random.Random) -> set[str]:
    """About ``size`` movable boxes: those of broken constraints (in random order), then the
    boxes that share a constraint with them, then the nearest on the canvas."""
    rng.shuffle(broken_sets)
    freed: set[str] = set()
    for group in broken_sets:
        if freed and len(freed | group) > size:
            continue
        freed |= group
    frontier = sorted(freed)
    while len(freed) < size and frontier:
        linked = sorted({n for name in frontier for i in index.by_box[name] for n in index.boxes_of[i]}
                        & movable - freed)
        rng.shuffle(linked)
        linked = linked[:size - len(freed)]
        freed |= set(linked)
        frontier = linked
    return _nearest(boxes, freed, movable, size)


def _local_neighbourhood(index: _Index, boxes, broken_sets: list[set[str]], movable: set[str], size: int,
                         rng: random.Random) -> set[str]:
    """About ``size`` movable boxes around one broken constraint, chosen at random: its boxes, then
    (up to ``LOCAL_FROM`` movable boxes) those that share constraints with them, then the nearest
    on the canvas (one place, where :func:`_neighbourhood` gathers several broken constraints,
    wherever they are).

    Past ``LOCAL_FROM``, the nearest only: on a large canvas a box's partners lie anywhere, so that
    24 linked boxes spanned the whole canvas and a step's programs held 800 of 1,000 boxes
    (0.25 s a linear step). From 1,000 sweeps of projections on planted 1,000-object scenes
    10-14, the search then left 1-7 of 3-21 broken constraints after 4 s; with the nearest, it
    mended them all in 0.4-1.4 s. Small problems keep the linked boxes: there the nearest
    made no difference (93 of the 100 slowest of planted scenes 2000-2999 laid out at 2 s either
    way), and a step frees most of the boxes anyway.
    """
    group = rng.choice(broken_sets)
    if len(movable) > LOCAL_FROM:
        return _nearest(boxes, set(group), movable, size)
    return _neighbourhood(index, boxes, [group], movable, size, rng)


def _nearest(boxes, freed: set[str], movable: set[str], size: int) -> set[str]:
    """``freed`` and the movable boxes nearest to it (by centre distance to any of its boxes), about
    ``size`` in all."""
    if len(freed) >= size:
        return freed
    centres = {n: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for n, b in boxes.items()}
    core = [centres[n] for n in freed]
    rest = sorted(movable - freed, key=lambda n: (min(
        abs(centres[n][0] - x) + abs(centres[n][1] - y) for x, y in core), n))
    return freed | set(rest[:size - len(freed)])


def _linear_step(problem: Problem, index: _Index, boxes, freed: set[str], *,
                 deadline: float) -> dict[str, GridBox] | None:
    """New boxes for ``freed``, every other box held, from the linear programs of
    :func:`~solvers.relax.relaxed_layout` (pulled to where the freed boxes are now), or None.

    Where a CP-SAT step over 8 of 500 boxes takes 0.1-1 s and, on planted 500-object scenes, seldom
    mends anything, this takes 30-150 ms over 24 and mends most of what the projections leave.
    The caller keeps the boxes only if they break less.
    """
    from .relax import relaxed_layout

    left = deadline - time.perf_counter()
    if left <= 0:
        return None
    sub = Problem(problem.width, problem.height)
    _, requirements, needed = _scope(problem, index, boxes, freed)
    for name in index.names:  # in the problem's order, so that the programs do not depend on sets
        if name not in needed:
            continue
        spec = problem.boxes[name]
        if name not in freed:
            sub.add_box(name, fixed=boxes[name])
            continue
        ref = sub.add_box(name, min_size=(spec.min_w, spec.min_h),
                          max_size=None if spec.max_w is None and spec.max_h is None else
                          (spec.max_w or problem.width, spec.max_h or problem.height))
        x0, y0, x1, y1 = boxes[name]
        for expr, value in ((ref.cx2, x0 + x1), (ref.cy2, y0 + y1), (ref.w, x1 - x0), (ref.h, y1 - y0)):
            sub.target(expr, value, 1)
    sub.requirements = [problem.requirements[i] for i in requirements]
    for sep in problem.separations:  # (pairs of held boxes the linear programs leave as they are)
        members = [n for n in sep.names if n in needed]
        if any(n in freed for n in members):
            sub.separations.append(NoOverlap(members, {pair for pair in sep.allowed if pair <= needed}, sep.gap))
    found, _ = relaxed_layout(sub, seconds=min(left, LINEAR_STEP_SECONDS))
    return {n: found[n] for n in freed}


def _scope(problem: Problem, index: _Index, boxes, freed: set[str]):
    """What a step over ``freed`` reads: its window, the requirements on a freed box (ids, sorted),
    and the boxes it needs (the freed ones, those those requirements name, those in the window)."""
    wx0, wy0, wx1, wy1 = window = _window(problem, boxes, freed)
    requirements = sorted({i for n in freed for i in index.by_box[n]})
    needed = set(freed)
    for i in requirements:
        needed |= index.boxes_of[i]
    needed |= {n for n, (x0, y0, x1, y1) in boxes.items()
               if n not in freed and x1 > wx0 and x0 < wx1 and y1 > wy0 and y0 < wy1}
    return window, requirements, needed


def _window(problem: Problem, boxes, freed: set[str]) -> tuple[int, int, int, int]:
    x0 = min(boxes[n][0] for n in freed)
    y0 = min(boxes[n][1] for n in freed)
    x1 = max(boxes[n][2] for n in freed)
    y1 = max(boxes[n][3] for n in freed)
    # at least 0.15 of the canvas up to WINDOW_BOXES boxes, less past them (as their sizes go)
    least = 0.15 * min(1.0, math.sqrt(WINDOW_BOXES / max(1, len(problem.boxes))))
    reach_x = max(WINDOW_REACH * (x1 - x0), least * problem.width)
    reach_y = max(WINDOW_REACH * (y1 - y0), least * problem.height)
    return (max(0, int(x0 - reach_x)), max(0, int(y0 - reach_y)),
            min(problem.width, int(x1 + reach_x) + 1), min(problem.height, int(y1 + reach_y) + 1))


def _solve_neighbourhoods(problem: Problem, index: _Index, boxes, neighbourhoods: list[set[str]],
                          failing: list[int], pairs: list[tuple[str, str]], *, seed: int, deadline: float,
                          effort: float) -> list[dict[str, GridBox] | None]:
    """:func:`_solve_neighbourhood` for each of ``neighbourhoods`` from the same ``boxes``, at the
    same time (CP-SAT releases the GIL while it searches), each with one worker and its own seed:
    as many steps in the wall time of one on as many cores, and the same answers on any number."""
    def touching(freed: set[str]) -> int:
        return sum(1 for i in failing if index.boxes_of[i] & freed) + sum(
            1 for a, c in pairs if a in freed or c in freed)

    def solve(k: int) -> dict[str, GridBox] | None:
        freed = neighbourhoods[k]
        return _solve_neighbourhood(problem, index, boxes, freed, seed=seed + k, deadline=deadline,
                                    broken=touching(freed), effort=effort)

    if len(neighbourhoods) == 1:
        return [solve(0)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(neighbourhoods)) as pool:
        return list(pool.map(solve, range(len(neighbourhoods))))


def _solve_neighbourhood(problem: Problem, index: _Index, boxes, freed: set[str], *, seed: int,
                         deadline: float, broken: int, effort: float = 1.0) -> dict[str, GridBox] | None:
    """New boxes for ``freed`` with every other box held that break fewer than ``broken`` of the
    constraints and pairs touching ``freed`` (or as many, moved), or None.

    Every constraint that touches a freed box, and every forbidden pair of a freed box and a box
    in the window, is soft here: a boolean says it holds, and the search minimises the number that
    do not. The boxes as they are satisfy that model, so a step never fails to have a solution;
    it may find a better one, which CP-SAT searches for from them as a hint.
    """
    from ortools.sat.python import cp_model

    from .cpmodel import CpSatModel

    sub = Problem(problem.width, problem.height)
    (wx0, wy0, wx1, wy1), requirements, needed = _scope(problem, index, boxes, freed)
    for name in index.names:  # in the problem's order, so that the model does not depend on sets
        if name not in needed:
            continue
        spec = problem.boxes[name]
        if name in freed:
            sub.add_box(name, min_size=(spec.min_w, spec.min_h),
                        max_size=None if spec.max_w is None and spec.max_h is None else
                        (spec.max_w or problem.width, spec.max_h or problem.height))
        else:
            sub.add_box(name, fixed=boxes[name])
    for i in requirements:  # the tag is the requirement: one boolean each
        sub.requirements.append(Requirement(problem.requirements[i].constraint, i))
    built = CpSatModel(sub, explain=True)
    m = built.model
    holds = [built.literals[i] for i in requirements]
    for name in sorted(freed, key=index.position.__getitem__):
        v = built.vars[name]
        m.Add(v["x0"] >= wx0)
        m.Add(v["y0"] >= wy0)
        m.Add(v["x1"] <= wx1)
        m.Add(v["y1"] <= wy1)
    # forbidden pairs with a freed box: apart on one of four sides, or counted as broken
    for sep in problem.separations:
        members = [n for n in sep.names if n in needed]
        chosen = set(members)
        if not chosen & freed:
            continue
        for a in sorted(chosen & freed, key=index.position.__getitem__):
            for b in members:
                if b == a or (b in freed and index.position[b] < index.position[a]) \
                        or frozenset((a, b)) in sep.allowed:
                    continue
                va, vb = built.vars[a], built.vars[b]
                sides = [m.NewBoolVar("") for _ in range(4)]
                for flag, (first, second, lo, hi) in zip(sides, (
                        (va, vb, "x1", "x0"), (vb, va, "x1", "x0"), (va, vb, "y1", "y0"), (vb, va, "y1", "y0"))):
                    m.Add(first[lo] + sep.gap <= second[hi]).OnlyEnforceIf(flag)
                apart = m.NewBoolVar("")
                m.AddBoolOr(sides).OnlyEnforceIf(apart)
                holds.append(apart)
                # the boxes as they are, as a complete hint: which sides hold, and whether any
                ba, bb = boxes[a], boxes[b]
                now = [ba[2] + sep.gap <= bb[0], bb[2] + sep.gap <= ba[0],
                       ba[3] + sep.gap <= bb[1], bb[3] + sep.gap <= ba[1]]
                for flag, value in zip(sides, now):
                    m.AddHint(flag, value)
                m.AddHint(apart, any(now))
    m.Minimize(sum(h.Not() for h in holds))
    # the boxes as they are, as a complete hint (CP-SAT starts from a complete, feasible one):
    # coordinates, each disjunction's first branch that holds (none where it is broken)
    for name in freed:
        x0, y0, x1, y1 = boxes[name]
        v = built.vars[name]
        for attr, value in (("x0", x0), ("y0", y0), ("x1", x1), ("y1", y1), ("w", x1 - x0), ("h", y1 - y0)):
            m.AddHint(v[attr], value)
        built.hint_area(name, boxes[name])
    for flags, branches in built.branches:
        held = [all(lin.holds(boxes) for lin in branch) for branch in branches]
        first = held.index(True) if True in held else -1
        for k, flag in enumerate(flags):
            m.AddHint(flag, k == first)
    for i in requirements:
        m.AddHint(built.literals[i], problem.requirements[i].constraint.holds(boxes))
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = 1
    params.random_seed = int(seed) % (2**31 - 1)
    params.max_deterministic_time = effort * (STEP_EFFORT[0] + STEP_EFFORT[1] * len(freed))
    params.max_time_in_seconds = max(0.005, deadline - time.perf_counter())
    # presolve of a large model costs the whole budget and loses the hint
    params.cp_model_presolve = len(needed) <= PRESOLVE_UP_TO
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) or solver.ObjectiveValue() > broken:
        return None
    return {n: v for n, v in built.read(solver).items() if n in freed}
