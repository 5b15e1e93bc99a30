"""A :class:`~solvers.model.Problem` as a CP-SAT model: boxes as interval variables,
``AddNoOverlap2D`` over a clique cover of the forbidden pairs, disjunctions as reified branches,
ratios of areas (:class:`~solvers.model.AreaRatio`) over products of the sides.

Two modes: the fast one puts box bounds into variable domains; the explaining one
(``explain=True``) gives every tag (statement) a literal and enforces each constraint only
under its tag's literal, so that CP-SAT can name the statements of a conflict.
"""

from __future__ import annotations

from .model import AnyOf, AreaRatio, Linear, Problem, Tag, clique_cover

#: Largest problem (in boxes) that CP-SAT presolves (and searches with its full linear relaxation): presolving NoOverlap2D over hundreds of
#: rectangles takes longer than the time limits and does not stop at them.
PRESOLVE_UP_TO = 60


class CpSatModel:
    """The CP-SAT model of one problem, in the fast or the explaining mode."""

    def __init__(self, problem: Problem, *, explain: bool):
        from ortools.sat.python import cp_model

        self.problem = problem
        self.explain = explain
        self.model = m = cp_model.CpModel()
        self.literals: dict[Tag, object] = {}
        self.branches: list[tuple[list, list]] = []  # (booleans, branches) of each disjunction
        self.areas: dict[str, object] = {}  # box -> its area (a variable, or a number when fixed)
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
        if isinstance(constraint, AreaRatio):
            ct = m.Add(constraint.den * self._area(constraint.big) >= constraint.num * self._area(constraint.small))
            if literal is not None:
                ct.OnlyEnforceIf(literal)
            # implied, and linear: one side at least sqrt(ratio) times the other's (else the area
            # falls short), which is what lets CP-SAT prove conflicts of sizes quickly, as the
            # products alone do not
            self._require(implied_sides(constraint), literal)
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

    def _area(self, name: str):
        """The box's area: a variable equal to the product of its sides (one per box)."""
        if name not in self.areas:
            v = self.vars[name]
            spec = self.problem.boxes[name]
            if spec.fixed is not None and not (self.explain and spec.tag is not None):
                x0, y0, x1, y1 = spec.fixed
                self.areas[name] = (x1 - x0) * (y1 - y0)
            else:
                area = self.model.NewIntVar(1, self.problem.width * self.problem.height, f"{name}.area")
                self.model.AddMultiplicationEquality(area, [v["w"], v["h"]])
                self.areas[name] = area
        return self.areas[name]

    def hint_area(self, name: str, box) -> None:
        """Hint the area variable of ``name`` (if it has one) from ``box``."""
        area = self.areas.get(name)
        if area is not None and not isinstance(area, int):
            self.model.AddHint(area, (box[2] - box[0]) * (box[3] - box[1]))

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
            self.hint_area(name, box)
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


def implied_sides(ratio: AreaRatio) -> AnyOf:
    """What ``ratio`` implies of the sides: the width or the height of ``big`` at least
    ``sqrt(num / den)`` times that of ``small`` (rounded down, so it is implied exactly).

    >>> implied_sides(AreaRatio([], big="a", small="b", num=9, den=4)).branches
    [[Linear(10000*a.w - 15000*b.w >= 0)], [Linear(10000*a.h - 15000*b.h >= 0)]]
    """
    import math

    from .model import BoxRef

    big, small = BoxRef(ratio.big), BoxRef(ratio.small)
    factor = math.floor(10_000 * math.sqrt(ratio.num / ratio.den))
    return AnyOf([[10_000 * big.w >= factor * small.w], [10_000 * big.h >= factor * small.h]])
