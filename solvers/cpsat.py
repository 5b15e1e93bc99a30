"""The CP-SAT backend (OR-Tools): boxes as interval variables, ``AddNoOverlap2D`` for no-overlap.

A solve of up to ``LINEAR_UP_TO`` boxes starts from :func:`~solvers.relax.relaxed_layout`,
linear programs that pull the boxes to their soft targets under the constraints, choosing
disjunction branches and separation sides greedily. When that layout holds every constraint it
is the answer (``cp-sat``); when it does not, a second start of another kind, projections onto
the constraints with growing weights (:func:`~solvers.project.projected_layout`; the only start
past ``LINEAR_UP_TO`` boxes, from the cells of :mod:`solvers.arrange` there), often does, and
the neighbourhood search (:mod:`solvers.lns`) mends what the projections leave. With
``exact=True`` (``cp-sat-exact``), or when all that fails, CP-SAT searches from the start as a
hint.

CP-SAT runs in two modes. The fast mode puts box bounds into variable domains and solves with
the soft terms as the objective, from the hint, on one worker with a fixed random seed and a
deterministic time budget, so that the same problem and seed give the same boxes. When that proves the problem
infeasible, the explaining mode rebuilds the model with one literal per tag (the statements),
enforces every constraint only under its tag's literal, solves under the literals as
assumptions and reads ``SufficientAssumptionsForInfeasibility``; it then shrinks that core by
deletion: a tag is dropped when the rest is still infeasible.
"""

from __future__ import annotations

import time
from dataclasses import replace

from compose.errors import InfeasibleLayoutError, LayoutError

from .arrange import arranged_targets
from .cpmodel import PRESOLVE_UP_TO, CpSatModel
from .explain import pair_core
from .lns import neighbourhood_search
from .model import Problem, Solution, Tag, clique_cover
from .project import MAX_SWEEPS, projected_layout
from .relax import relaxed_layout

#: Share of the time limit the linear start may take (what it leaves broken, the neighbourhood
#: search mends).
LINEAR_SHARE = 0.12

#: Problems with more boxes skip the linear start: its programs, solved again for every batch of
#: choices, take about 12 s at 500 boxes, where the projections sweep in milliseconds.
LINEAR_UP_TO = 200

#: Problems with fewer boxes skip the projections: CP-SAT settles them at once.
PROJECT_FROM = 6

#: Share of the time limit by which the projections (:mod:`solvers.project`), tried when the
#: linear start breaks something, stop.
PROJECTION_SHARE = 0.65

#: Past ``LINEAR_UP_TO`` boxes the projections stop at a stall (no new low for
#: ``project.KICK_AFTER`` sweeps) once at most this share of the boxes' count of constraints is
#: broken, and the neighbourhood search's linear steps mend them: on planted 500-object scenes
#: 10-19 at 10 s, all 10 laid out with 0.01, 0.03, 0.1, 0.25 or at the first stall, at medians
#: of 2.19, 1.90, 1.83, 1.70 and 1.72 s (jumping at every stall as below: 10, at 6.0 s).
LARGE_ENOUGH = 0.25

#: Past ``LINEAR_UP_TO`` boxes the projections stop after ``LARGE_SWEEPS`` sweeps (the least
#: sizes are whole from ``project.GROW_SWEEPS`` = 300) once their rounded boxes break at most
#: ``LARGE_SETTLED`` of the boxes' count, and the neighbourhood search mends the rest: on planted
#: 1,000-object scenes 10-17 it mends the 16-63 constraints that 400 sweeps leave in 0.7-2.0 s,
#: where running on to a stall took 4-6 s to leave 1-10 (all 8 laid out in 2.2-3.4 s, against 4
#: of 5 of 10-14 in 5.5-6.9 s). The bound is for the rare start that 400 sweeps leave far off
#: (326 broken on the benchmark's scene 2, which the search did not mend within 10 s; 48 after
#: 1,100 sweeps, mended in 5.5 s).
LARGE_SWEEPS = 400
LARGE_SETTLED = 0.05

#: Sweeps the projections may take on problems of up to ``LINEAR_UP_TO`` boxes (about 0.5 s at
#: 30 boxes) before the neighbourhood search mends what they leave: on the 100 slowest of
#: planted scenes 2000-2999 at 2 s, 4 not laid out against 7 when the projections ran to
#: ``PROJECTION_SHARE`` of the time (there the search mends in a median 30 ms what 1,500 sweeps
#: leave, where the sweeps beyond seldom reach a layout).
SMALL_SWEEPS = 1500

#: Share of the time limit the neighbourhood search may take before one search over the whole
#: problem (which alone can prove that no layout exists).
LNS_SHARE = 0.85

#: Least seconds each deletion step of an explanation may take; a step that runs out of time
#: keeps its tag (so the set is then small, not proved minimal).
EXPLAIN_STEP_SECONDS = 0.25


class CpSatBackend:
    """Solve a :class:`~solvers.model.Problem` with CP-SAT."""

    name = "cp-sat"
    #: ``solve`` takes ``quick`` and ``guide`` (see there).
    quick_starts = True

    def __init__(self, workers: int = 1, effort: float | None = None, exact: bool = False):
        self.workers = workers
        self.effort = effort
        self.exact = exact
        self.name = "cp-sat-exact" if exact else "cp-sat"
        # the linear start of a problem tried with ``quick``, kept for its full solve
        self._linear_starts: dict[int, tuple[Problem, dict, bool | None]] = {}

    # --- public -------------------------------------------------------------------------------

    def solve(self, problem: Problem, *, seed: int = 0, time_limit: float = 10.0,
              explain: bool = True, quick: bool = False, guide: dict | None = None) -> Solution:
        """The best layout found; raises E301 (with the conflicting tags, or none when
        ``explain`` is false) or E302.

        With ``quick``, only the linear start runs (within ``time_limit``) and E302 is raised
        when it breaks something, or at once past ``LINEAR_UP_TO`` boxes: a caller with several
        versions of a problem tries each one's start before searching any. A later full solve
        of the same problem reuses that start. ``guide`` (boxes found for another version of the
        problem) makes that start take the guide's branches and sides.
        """
        started = time.perf_counter()
        large = len(problem.boxes) > LINEAR_UP_TO  # the linear programs would take seconds
        if quick and (large or problem.hint or self.exact):
            raise LayoutError("E302", seconds=0.0, objects=len(problem.boxes))
        tried = self._linear_starts.get(id(problem))
        if guide and tried is not None and tried[0] is problem and tried[2] is None:
            # the conjunctions alone had no solution: no guide changes that
            raise LayoutError("E302", seconds=0.0, objects=len(problem.boxes))
        if problem.hint:
            start, complete = problem.hint, False
        elif overfull(problem):  # proved at once below; no start worth looking for
            if not explain:
                raise InfeasibleLayoutError("E301", conflicts=[], statements="  (not explained)")
            start, complete = {}, False
        else:
            kept = None if guide else self._linear_starts.pop(id(problem), None)
            if kept is not None and kept[0] is problem:
                start, complete = kept[1], kept[2]
            elif large:
                start, complete = {}, None
            elif quick and (core := pair_core(problem, deadline=started + time_limit, shrink=explain)):
                # two statements on the same boxes that cannot hold together: said in a
                # millisecond, where the linear start's first program takes tens at 100 boxes
                raise infeasible_error(problem, core if explain else [])
            else:
                share = 1.0 if quick else LINEAR_SHARE
                start, complete = relaxed_layout(problem, seconds=share * time_limit, guide=guide)
            if quick and complete is None:  # the proof, if one is needed, comes with the full solve
                if not guide:
                    self._linear_starts[id(problem)] = (problem, start, None)
                raise LayoutError("E302", seconds=float(time_limit), objects=len(problem.boxes))
            if complete is None:  # the linear constraints alone may be infeasible: a fast proof
                from .explain import linear_core

                core = linear_core(problem, deadline=started + time_limit, shrink=explain)
                if core is not None:
                    raise infeasible_error(problem, core if explain else [])
            complete = bool(complete) and not problem.violations(start)
            if complete and not self.exact:
                # the linear programs' layout holds every constraint and is L1-optimal for its
                # branch and side choices: CP-SAT is needed only where it does not exist
                return Solution(start, "relaxed", None, time.perf_counter() - started, self.name, seed)
            if quick:
                if not guide:
                    self._linear_starts[id(problem)] = (problem, start, False)
                raise LayoutError("E302", seconds=float(time_limit), objects=len(problem.boxes))
            if not complete and len(problem.boxes) >= PROJECT_FROM:
                # a second start, of another kind: where the linear programs' greedy choices
                # clash, projections with growing weights often find another arrangement
                # past LINEAR_UP_TO boxes, from cells dealt beside what each box relates to, not
                # from the seeded targets' places (see solvers.arrange)
                arranged = replace(problem, targets=arranged_targets(problem, seed)) if large else problem
                enough = int(LARGE_ENOUGH * len(problem.boxes)) if large else 0
                projected, broken = projected_layout(arranged, seed=seed, enough=enough,
                                                     sweeps=MAX_SWEEPS if large else SMALL_SWEEPS,
                                                     settle=(LARGE_SWEEPS, int(LARGE_SETTLED * len(problem.boxes)))
                                                     if large else None,
                                                     deadline=started + PROJECTION_SHARE * time_limit)
                if broken == 0 and not self.exact and not problem.violations(projected):
                    if not large:
                        # the projections stop at the first layout; the linear programs, with
                        # that layout's branches and sides, pull it to the targets (a quarter to
                        # a third less target deviation on dense scenes, in 40-190 ms)
                        left = started + LNS_SHARE * time_limit - time.perf_counter()
                        polished, done = relaxed_layout(problem, guide=projected, seconds=max(0.0, left))
                        if done and not problem.violations(polished):
                            projected = polished
                    return Solution(projected, "projected", None, time.perf_counter() - started,
                                    self.name, seed)
                # the projections' boxes, even where the linear start breaks fewer constraints: the
                # search mends them more often (its greedy choices clash; the sweeps' merely fall short)
                start = projected
            if not complete and not self.exact:
                # a few constraints short, as a rule: mend them in small neighbourhoods, which
                # costs milliseconds where one search over the whole problem costs seconds
                start, complete = neighbourhood_search(
                    problem, start, seed=seed, deadline=started + LNS_SHARE * time_limit)
                if complete:
                    return Solution(start, "mended", None, time.perf_counter() - started, self.name, seed)
        # imported here, not above: it imports pandas (a third of a second), which a layout
        # that a start already holds never needs
        from ortools.sat.python import cp_model

        built = CpSatModel(problem, explain=False)
        built.objective()
        built.add_hint(start)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers = self.workers
        params.random_seed = int(seed) % (2**31 - 1)
        params.max_time_in_seconds = max(0.01, float(time_limit) - (time.perf_counter() - started))
        # A deterministic budget makes the answer independent of the machine's speed (and so
        # reproducible); the wall-clock limit above only guards against a hang.
        params.max_deterministic_time = self.effort if self.effort is not None else _effort(problem)
        # From a starting point that already holds, presolve (slow on many rectangles) buys
        # nothing: the search starts from the hint and improves it.
        params.cp_model_presolve = not complete and len(problem.boxes) <= PRESOLVE_UP_TO
        # the full linear relaxation proves small conflicts of disjunctions at once (a size ratio
        # against an inside: 6 ms, against 0.2 s by search)
        params.linearization_level = 2 if len(problem.boxes) <= PRESOLVE_UP_TO else 1
        status = solver.Solve(built.model)
        if status == cp_model.UNKNOWN and time.perf_counter() - started < time_limit:
            # no layout within the deterministic budget: search on, to the first layout
            params.max_deterministic_time = 1e9
            params.cp_model_presolve = len(problem.boxes) <= PRESOLVE_UP_TO
            params.stop_after_first_solution = True
            params.max_time_in_seconds = max(0.01, time_limit - (time.perf_counter() - started))
            status = solver.Solve(built.model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            boxes = built.read(solver)
            return Solution(boxes, "optimal" if status == cp_model.OPTIMAL else "feasible",
                            solver.ObjectiveValue(), time.perf_counter() - started, self.name, seed)
        if status == cp_model.INFEASIBLE:
            if not explain:
                raise InfeasibleLayoutError("E301", conflicts=[], statements="  (not explained)")
            left = max(1.0, time_limit - (time.perf_counter() - started))
            conflicts = self.explain(problem, time_limit=left)
            raise infeasible_error(problem, conflicts)
        if status == cp_model.MODEL_INVALID:  # a bug in how the problem was built, not bad input
            raise RuntimeError(f"CP-SAT rejected the model: {built.model.Validate()}")
        raise LayoutError("E302", seconds=float(time_limit), objects=len(problem.boxes))

    def explain(self, problem: Problem, *, time_limit: float = 30.0) -> list[Tag]:
        """A small set of tags that cannot hold together (minimal where each deletion step finished
        within its time).

        A conflict of the linear constraints alone is found and shrunk with linear programs
        (:func:`~solvers.explain.linear_core`); an overfull canvas starts from its largest boxes
        (:func:`~solvers.explain.area_core`); anything else from CP-SAT's core under the tags as
        assumptions. Returns every tag when even the first proof runs out of time.
        """
        from ortools.sat.python import cp_model

        from .explain import area_core, linear_core

        deadline = time.perf_counter() + time_limit
        core = linear_core(problem, deadline=deadline)
        if core is not None:
            return core
        built = CpSatModel(problem, explain=True)
        tags = problem.tags()
        position = {t: i for i, t in enumerate(tags)}
        start = area_core(problem)
        if start is not None:
            # dropping any one of them makes the area fit; CP-SAT says whether it then packs
            return self._shrink(built, start, EXPLAIN_STEP_SECONDS, deadline, problem)
        first = time.perf_counter()
        status, core = built.check(tags, time_limit)
        if status != cp_model.INFEASIBLE:
            return tags
        # a deletion step may take a few times as long as the first proof, at least STEP_SECONDS
        step = max(EXPLAIN_STEP_SECONDS, 3 * (time.perf_counter() - first))
        return self._shrink(built, sorted(core, key=position.__getitem__), step, deadline, problem)

    @staticmethod
    def _shrink(built: CpSatModel, core: list[Tag], step: float, deadline: float,
                problem: Problem) -> list[Tag]:
        """Deletion: a tag is dropped when the rest is still infeasible (CP-SAT's smaller core of
        the rest then replaces it); kept when the rest has a layout (a quick witness first, then
        CP-SAT) or the step runs out."""
        from ortools.sat.python import cp_model

        from .explain import subproblem, witness

        i = 0
        while i < len(core):
            left = deadline - time.perf_counter()
            if left <= 0.05:
                break
            trial = core[:i] + core[i + 1:]
            if witness(subproblem(problem, trial)):
                i += 1
                continue
            status, smaller = built.check(trial, min(step, left))
            if status == cp_model.INFEASIBLE:
                keep = set(smaller) if smaller else set(trial)
                needed = set(core[:i])  # each was needed by a superset, so by this core too
                core = [t for t in trial if t in keep or t in needed]
                i = sum(1 for t in core if t in needed)
            else:
                i += 1
        return core


def infeasible_error(problem: Problem, conflicts: list[Tag]) -> InfeasibleLayoutError:
    """E301 naming ``conflicts`` with the problem's descriptions."""
    lines = "\n".join(f"  - {problem.descriptions.get(t, t)}" for t in conflicts)
    return InfeasibleLayoutError("E301", conflicts=list(conflicts), statements=lines)


def _effort(problem: Problem) -> float:
    # deterministic seconds: enough for small scenes to be solved to optimality, bounded for large
    n = len(problem.boxes)
    return min(0.05 + 0.004 * n, 2.0)


def overfull(problem: Problem) -> bool:
    """Whether some boxes that must not overlap need more area, at their smallest, than the grid.

    Boxes that keep ``gap`` apart count ``gap`` more a side, in a grid ``gap`` larger: each box
    grown by ``gap`` to the right and below is then disjoint from the others' (they are ``gap``
    apart on some axis) and lies within the grown grid.

    >>> p = Problem(10, 10)
    >>> for name in "ab":
    ...     _ = p.add_box(name, min_size=(8, 8))
    >>> p.no_overlap(["a", "b"])
    >>> overfull(p)
    True
    >>> p = Problem(20, 10)
    >>> for name in "ab":
    ...     _ = p.add_box(name, min_size=(9, 9))
    >>> p.no_overlap(["a", "b"], gap=2)   # 2 * 11 * 11 <= 22 * 12
    >>> overfull(p)
    False
    >>> p.separations[0].gap = 4          # 2 * 13 * 13 > 24 * 14
    >>> overfull(p)
    True
    """
    for sep in problem.separations:
        g = sep.gap
        canvas = (problem.width + g) * (problem.height + g)
        for clique in clique_cover(sep.names, sep.allowed):
            total = 0
            for name in clique:
                spec = problem.boxes[name]
                if spec.fixed is not None:
                    x0, y0, x1, y1 = spec.fixed
                    total += (x1 - x0 + g) * (y1 - y0 + g)
                else:
                    total += (spec.min_w + g) * (spec.min_h + g)
            if total > canvas:
                return True
    return False
