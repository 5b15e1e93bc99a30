"""The placement stage: a scene's layout, solved from its statements.

:func:`place` builds the layout problem (:mod:`compose.placement.problem`) with the strict
margins of :data:`compose.relations.STRICT`, room for drawing and detection beyond the verifier
predicates, and with :data:`~compose.relations.RELAXED` (the predicates as closely as a linear
model allows, no free space between boxes). It tries each one's linear start before any search
(where the strict start breaks something and the relaxed one holds, the strict margins are
tried once more with the relaxed layout's arrangement), then searches with the strict margins,
then without them. A layout without the margins comes with the coded warning W301, and only
when that too is impossible does it raise E301, naming a minimal set of statements that cannot
hold together as written. :mod:`compose.placement.planted` makes scenes with a known solution.

>>> from compose.scene import ObjectGroup, Ref, RelationStatement, Scene
>>> scene = Scene(objects=[ObjectGroup(name="cup", phrase="a cup"), ObjectGroup(name="table", phrase="a table")],
...               statements=[RelationStatement(subject=Ref(group="cup"), predicate="on", objects=[Ref(group="table")]),
...                           RelationStatement(subject=Ref(group="table"), predicate="below", objects=[Ref(group="cup")])])
>>> sorted(place(scene, seed=0).boxes)
['cup#0', 'table#0']
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import time
import warnings

from compose.errors import ComposeWarning, InfeasibleLayoutError, LayoutError, UsageError
from compose.layouts import Layout, Region
from compose.relations import RELAXED, STRICT
from compose.scene import Scene

from .problem import (
    CLASS_PRIORS,
    GRID,
    Box,
    ConstraintTag,
    assign_z,
    build_problem,
    class_prior,
    grid_size,
    size_cycle,
)

#: Share of the time limit the layout with the strict margins may take before the relaxed one
#: (0.35: on planted scenes 2000-2599, 586 of 600 laid out at 2 s, against 580 at 0.5).
STRICT_SHARE = 0.35

#: Share of the time limit each margin set's linear start may take, before any search.
QUICK_SHARE = 0.1

__all__ = [
    "CLASS_PRIORS",
    "GRID",
    "ConstraintTag",
    "assign_z",
    "build_problem",
    "class_prior",
    "grid_size",
    "place",
]


def place(scene: Scene, seed: int | None = None, *, fixed: dict[str, Box] | None = None,
          time_limit: float = 10.0, backend: str = "cp-sat") -> Layout:
    """Boxes for every instance of ``scene``; see :func:`compose.api.layout`.

    Warns with W301 (a :class:`~compose.errors.ComposeWarning`) when the layout needed the
    margins relaxed; raises E301 when the statements cannot hold together as written, E302 when
    ``time_limit`` passes first.
    """
    if not time_limit > 0:
        raise UsageError("E006", argument="time_limit", value=time_limit, expected="a positive number of seconds")
    with _cycle_collection_paused():
        return _place(scene, seed, fixed, time_limit, backend)


@contextlib.contextmanager
def _cycle_collection_paused():
    """Python's cyclic garbage collector paused, and resumed as it was. A layout allocates tens of
    thousands of small objects that hold no cycles (expressions, rows), which reference counting
    frees; the collections their numbers trigger took a fifth of a 100-object layout (median CPU
    time over five planted scenes, 206 ms with them, 164 ms without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _place(scene: Scene, seed: int | None, fixed: dict[str, Box] | None, time_limit: float,
           backend: str) -> Layout:
    from compose.solvers import get_backend

    seed = int(scene.seed if seed is None and scene.seed is not None else (seed or 0))
    solver = get_backend(backend)
    started = time.perf_counter()
    strict, instances, counts = build_problem(scene, seed=seed, fixed=fixed, margins=STRICT)
    cycle = size_cycle(scene, counts, strict)
    if cycle is not None:
        raise _in_written_order(strict, InfeasibleLayoutError("E301", conflicts=cycle, statements=""))
    @functools.cache  # built once, when first needed
    def relaxed_problem():
        return build_problem(scene, seed=seed, fixed=fixed, counts=counts, margins=RELAXED, declared=strict)[0]

    solution, problem, strict_possible = _linear_starts(solver, strict, relaxed_problem, seed,
                                                        QUICK_SHARE * time_limit)
    if solution is None and strict_possible:
        try:
            # a share of the time, and no explanation: a layout without the margins may still exist
            left = STRICT_SHARE * time_limit - (time.perf_counter() - started)
            solution, problem = solver.solve(strict, seed=seed, time_limit=max(0.01, left), explain=False), strict
        except LayoutError:
            pass
    if solution is None:
        problem = relaxed_problem()
        left = max(0.1 * time_limit, time_limit - (time.perf_counter() - started))
        try:
            solution = solver.solve(problem, seed=seed, time_limit=left)
        except InfeasibleLayoutError as err:
            raise _in_written_order(problem, err) from None
    if problem is not strict:
        lost = sorted(set(strict.violations(solution.boxes)))
        warnings.warn(ComposeWarning("W301", statements="\n".join(f"  - {v}" for v in lost)), stacklevel=3)
    W, H = problem.width, problem.height
    z = assign_z(scene, instances, counts)
    boxes = {iid: (x0 / W, y0 / H, x1 / W, y1 / H) for iid, (x0, y0, x1, y1) in solution.boxes.items()}
    objects = {inst.id: Region(phrase=inst.phrase, class_name=inst.class_name,
                               attributes=dict(inst.attributes), z=z[inst.id]) for inst in instances}
    return Layout(canvas=scene.canvas, boxes=boxes, objects=objects, background=scene.background,
                  style=scene.style, negative=scene.negative, seed=seed, counts=counts)


def _linear_starts(solver, strict, relaxed_problem, seed: int, seconds: float):
    """Each margin set's linear start alone, before any search (backends with ``quick_starts``).

    Returns ``(solution, its problem)`` when a start holds, else ``(None, None)``, and whether
    the strict margins are still worth a search (not once a start proved them impossible). When
    the relaxed start holds, the strict problem's start runs once more with its arrangement
    (branches and sides) as a guide, given twice the time the relaxed start took.
    """
    if not getattr(solver, "quick_starts", False):
        return None, None, True
    try:
        return solver.solve(strict, seed=seed, time_limit=seconds, explain=False, quick=True), strict, True
    except InfeasibleLayoutError:
        return None, None, False
    except LayoutError:
        pass
    relaxed = relaxed_problem()
    try:
        solution = solver.solve(relaxed, seed=seed, time_limit=seconds, explain=False, quick=True)
    except InfeasibleLayoutError:
        return None, None, False  # impossible without the margins: explained by the full solve
    except LayoutError:
        return None, None, True
    try:
        return solver.solve(strict, seed=seed, time_limit=2 * solution.wall_time + 0.01, explain=False,
                            quick=True, guide=solution.boxes), strict, True
    except LayoutError:
        return solution, relaxed, True


def _in_written_order(problem, err: InfeasibleLayoutError) -> InfeasibleLayoutError:
    """E301 with its conflicts (constraint tags) in the order the scene wrote them."""
    order = {id(tag): i for i, tag in enumerate(err.conflicts)}
    conflicts = sorted(err.conflicts, key=lambda t: (
        t.span.line if getattr(t, "span", None) is not None and t.span.line is not None else math.inf,
        order[id(t)]))
    from compose.limits import MAX_CONFLICTS_SHOWN  # the first N, then how many more

    shown = [f"  - {problem.descriptions.get(t, t)}" for t in conflicts[:MAX_CONFLICTS_SHOWN]]
    if len(conflicts) > MAX_CONFLICTS_SHOWN:
        shown.append(f"  ... and {len(conflicts) - MAX_CONFLICTS_SHOWN} more")
    return InfeasibleLayoutError("E301", conflicts=conflicts, statements="\n".join(shown))
