"""The CP-SAT backend (OR-Tools): boxes as interval variables, ``AddNoOverlap2D`` for no-overlap.

Every solve starts from :func:`~solvers.relax.relaxed_layout`, linear programs that pull the
boxes to their soft targets under the constraints, choosing disjunction branches and separation
sides greedily. When that layout holds every constraint it is the answer (``cp-sat``); with
``exact=True`` (``cp-sat-exact``), or when it does not hold, CP-SAT searches from it as a hint.

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

from compose.errors import InfeasibleLayoutError, LayoutError

from .model import AnyOf, Linear, Problem, Solution, Tag, clique_cover
from .lns import neighbourhood_search
from .relax import relaxed_layout

#: Largest problem (in boxes) that CP-SAT presolves: presolving NoOverlap2D over hundreds of
#: rectangles takes longer than the time limits and does not stop at them.
PRESOLVE_UP_TO = 60

#: Share of the time limit the neighbourhood search may take before one search over the whole
#: problem (which alone can prove that no layout exists).
LNS_SHARE = 0.7

#: Least seconds each deletion step of an explanation may take; a step that runs out of time
#: keeps its tag (so the set is then small, not proved minimal).
EXPLAIN_STEP_SECONDS = 0.25


class CpSatBackend:
    """Solve a :class:`~solvers.model.Problem` with CP-SAT."""

    name = "cp-sat"

    def __init__(self, workers: int = 1, effort: float | None = None, exact: bool = False):
        self.workers = workers
        self.effort = effort
        self.exact = exact
        self.name = "cp-sat-exact" if exact else "cp-sat"

    # --- public -------------------------------------------------------------------------------

    def solve(self, problem: Problem, *, seed: int = 0, time_limit: float = 10.0,
              explain: bool = True) -> Solution:
        """The best layout found; raises E301 (with the conflicting tags, or none when
        ``explain`` is false) or E302."""
        from ortools.sat.python import cp_model

        started = time.perf_counter()
        if problem.hint:
            start, complete = problem.hint, False
        elif overfull(problem):  # proved at once below; no start worth looking for
            if not explain:
                raise InfeasibleLayoutError("E301", conflicts=[], statements="  (not explained)")
            start, complete = {}, False
        else:
            start, complete = relaxed_layout(problem, seconds=time_limit / 2)
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
            if not complete and not self.exact:
                # a few constraints short, as a rule: mend them in small neighbourhoods, which
                # costs milliseconds where one search over the whole problem costs seconds
                start, complete = neighbourhood_search(
                    problem, start, seed=seed, deadline=started + LNS_SHARE * time_limit)
                if complete:
                    return Solution(start, "mended", None, time.perf_counter() - started, self.name, seed)
        built = _Model(problem, explain=False)
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
        built = _Model(problem, explain=True)
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
    def _shrink(built: _Model, core: list[Tag], step: float, deadline: float,
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

    >>> p = Problem(10, 10)
    >>> for name in "ab":
    ...     _ = p.add_box(name, min_size=(8, 8))
    >>> p.no_overlap(["a", "b"])
    >>> overfull(p)
    True
    """
    canvas = problem.width * problem.height
    for sep in problem.separations:
        for clique in clique_cover(sep.names, sep.allowed):
            total = 0
            for name in clique:
                spec = problem.boxes[name]
                if spec.fixed is not None:
                    x0, y0, x1, y1 = spec.fixed
                    total += (x1 - x0) * (y1 - y0)
                else:
                    total += spec.min_w * spec.min_h
            if total > canvas:
                return True
    return False


class _Model:
    """The CP-SAT model of one problem, in the fast or the explaining mode."""

    def __init__(self, problem: Problem, *, explain: bool):
        from ortools.sat.python import cp_model

        self.problem = problem
        self.explain = explain
        self.model = m = cp_model.CpModel()
        self.literals: dict[Tag, object] = {}
        self.branches: list[tuple[list, list]] = []  # (booleans, branches) of each disjunction
        if explain:
            for i, tag in enumerate(problem.tags()):
                self.literals[tag] = m.NewBoolVar(f"statement_{i}")
        W, H = problem.width, problem.height
        self.vars: dict[str, dict[str, object]] = {}
        for name, spec in problem.boxes.items():
            guarded = explain and spec.tag is not None
            if spec.fixed is not None and not guarded:
                x0, y0, x1, y1 = spec.fixed
                v = {"x0": m.NewConstant(x0), "y0": m.NewConstant(y0), "x1": m.NewConstant(x1),
                     "y1": m.NewConstant(y1), "w": m.NewConstant(x1 - x0), "h": m.NewConstant(y1 - y0)}
            else:
                lo_w, lo_h = (1, 1) if guarded else (min(spec.min_w, W), min(spec.min_h, H))
                hi_w = W if guarded or spec.max_w is None else max(lo_w, min(W, spec.max_w))
                hi_h = H if guarded or spec.max_h is None else max(lo_h, min(H, spec.max_h))
                v = {"x0": m.NewIntVar(0, W - 1, f"{name}.x0"), "y0": m.NewIntVar(0, H - 1, f"{name}.y0"),
                     "x1": m.NewIntVar(1, W, f"{name}.x1"), "y1": m.NewIntVar(1, H, f"{name}.y1"),
                     "w": m.NewIntVar(lo_w, hi_w, f"{name}.w"), "h": m.NewIntVar(lo_h, hi_h, f"{name}.h")}
                m.Add(v["x0"] + v["w"] == v["x1"])
                m.Add(v["y0"] + v["h"] == v["y1"])
                if guarded:
                    lit = self.literals[spec.tag]
                    if spec.fixed is not None:
                        for attr, value in zip(("x0", "y0", "x1", "y1"), spec.fixed):
                            m.Add(v[attr] == value).OnlyEnforceIf(lit)
                    else:
                        m.Add(v["w"] >= min(spec.min_w, W)).OnlyEnforceIf(lit)
                        m.Add(v["h"] >= min(spec.min_h, H)).OnlyEnforceIf(lit)
                        if spec.max_w is not None:
                            m.Add(v["w"] <= spec.max_w).OnlyEnforceIf(lit)
                        if spec.max_h is not None:
                            m.Add(v["h"] <= spec.max_h).OnlyEnforceIf(lit)
            self.vars[name] = v
        for req in problem.requirements:
            self._require(req.constraint, self.literals.get(req.tag) if explain else None)
        for sep in problem.separations:
            self._no_overlap(sep.names, sep.allowed, sep.gap)

    def _expr(self, expr):
        from ortools.sat.python import cp_model

        return cp_model.LinearExpr.WeightedSum(
            [self.vars[n][a] for (n, a) in expr.terms], list(expr.terms.values()))

    def _linear(self, lin: Linear):
        lo = lin.lo if lin.lo is not None else -(2**40)
        hi = lin.hi if lin.hi is not None else 2**40
        return self.model.AddLinearConstraint(self._expr(lin.expr), lo, hi)

    def _require(self, constraint: Linear | AnyOf, literal) -> None:
        m = self.model
        if isinstance(constraint, Linear):
            ct = self._linear(constraint)
            if literal is not None:
                ct.OnlyEnforceIf(literal)
            return
        if len(constraint.branches) == 1:
            for lin in constraint.branches[0]:
                self._require(lin, literal)
            return
        chosen = [m.NewBoolVar("branch") for _ in constraint.branches]
        self.branches.append((chosen, constraint.branches))
        for flag, branch in zip(chosen, constraint.branches):
            for lin in branch:
                self._linear(lin).OnlyEnforceIf(flag)
        ct = m.AddBoolOr(chosen)
        if literal is not None:
            ct.OnlyEnforceIf(literal)

    def _no_overlap(self, names: list[str], allowed: set[frozenset[str]], gap: int = 0) -> None:
        m = self.model
        x_iv, y_iv = {}, {}
        for name in names:
            v = self.vars[name]
            tag = self.problem.boxes[name].tag
            # each interval reaches ``gap`` past its box, so neighbours keep that much apart
            x_args = (v["x0"], v["w"] + gap, v["x1"] + gap)
            y_args = (v["y0"], v["h"] + gap, v["y1"] + gap)
            if self.explain and tag is not None:
                lit = self.literals[tag]
                x_iv[name] = m.NewOptionalIntervalVar(*x_args, lit, f"{name}.xi")
                y_iv[name] = m.NewOptionalIntervalVar(*y_args, lit, f"{name}.yi")
            else:
                x_iv[name] = m.NewIntervalVar(*x_args, f"{name}.xi")
                y_iv[name] = m.NewIntervalVar(*y_args, f"{name}.yi")
        canvas_area = self.problem.width * self.problem.height
        for clique in clique_cover(names, allowed):
            m.AddNoOverlap2D([x_iv[n] for n in clique], [y_iv[n] for n in clique])
            # Implied by the above, but stated so that an overfull canvas is proved at once (and,
            # in the explaining mode, as a plain sum over the statements' literals).
            specs = [self.problem.boxes[n] for n in clique]
            areas = [(s.fixed[2] - s.fixed[0]) * (s.fixed[3] - s.fixed[1]) if s.fixed is not None
                     else s.min_w * s.min_h for s in specs]
            if self.explain:
                present = [self.literals[s.tag] if s.tag is not None else 1 for s in specs]
                m.Add(sum(a * p for a, p in zip(areas, present)) <= canvas_area)
            elif sum(areas) > canvas_area:
                m.AddBoolOr([])  # the canvas cannot hold their smallest sizes

    def objective(self) -> None:
        m = self.model
        terms, weights = [], []
        for target in self.problem.targets:
            expr = self._expr(target.expr)
            bound = sum(abs(c) for c in target.expr.terms.values()) * max(
                self.problem.width, self.problem.height) + abs(target.value) + abs(target.expr.constant)
            dev = m.NewIntVar(0, bound, "dev")
            m.AddAbsEquality(dev, expr + (target.expr.constant - target.value))
            terms.append(dev)
            weights.append(target.weight)
        for pref in self.problem.preferences:
            held = m.NewBoolVar("preferred")
            for item in pref.constraints:
                self._require(item, held)
            terms.append(held.Not())
            weights.append(pref.weight)
        if terms:
            from ortools.sat.python import cp_model

            m.Minimize(cp_model.LinearExpr.WeightedSum(terms, weights))

    def add_hint(self, boxes) -> None:
        for name, box in boxes.items():
            v = self.vars.get(name)
            if v is None or self.problem.boxes[name].fixed is not None:
                continue
            x0, y0, x1, y1 = box
            for attr, value in (("x0", x0), ("y0", y0), ("x1", x1), ("y1", y1), ("w", x1 - x0), ("h", y1 - y0)):
                self.model.AddHint(v[attr], value)
        if len(boxes) == len(self.vars):
            for flags, branches in self.branches:
                holds = [all(lin.holds(boxes) for lin in branch) for branch in branches]
                first = holds.index(True) if True in holds else 0
                for k, flag in enumerate(flags):
                    self.model.AddHint(flag, k == first)

    def read(self, solver) -> dict[str, tuple[int, int, int, int]]:
        return {n: tuple(int(solver.Value(v[a])) for a in ("x0", "y0", "x1", "y1"))  # type: ignore[misc]
                for n, v in self.vars.items()}

    def check(self, tags: list[Tag], seconds: float):
        """Solve under ``tags`` as assumptions: (status, sufficient tags when infeasible)."""
        from ortools.sat.python import cp_model

        self.model.ClearAssumptions()
        self.model.AddAssumptions([self.literals[t] for t in tags])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.linearization_level = 2 if len(self.problem.boxes) <= PRESOLVE_UP_TO else 1
        solver.parameters.max_time_in_seconds = max(0.01, seconds)
        status = solver.Solve(self.model)
        if status != cp_model.INFEASIBLE:
            return status, []
        by_index = {self.literals[t].Index(): t for t in tags}
        core = [by_index[i] for i in solver.SufficientAssumptionsForInfeasibility() if i in by_index]
        return status, core
