"""The neighbourhood search mends starts that break constraints, and never makes them worse."""

import time

from compose.solvers.lns import neighbourhood_search
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.placement import build_problem
from compose.placement.planted import planted_scene
from compose.relations import RELAXED


def _piled(problem):
    """Every box at its smallest, in the top-left corner: every pair overlaps."""
    return {name: spec.fixed or (0, 0, spec.min_w, spec.min_h) for name, spec in problem.boxes.items()}


def test_mends_a_piled_start_of_a_planted_scene():
    scene, _ = planted_scene(12, seed=3, keep=0.25)
    problem, _, _ = build_problem(scene, seed=0, margins=RELAXED)
    start = _piled(problem)
    assert len(problem.violations(start)) > 20
    boxes, done = neighbourhood_search(problem, start, seed=0, deadline=time.perf_counter() + 20)
    assert done
    assert problem.violations(boxes) == []


def test_same_seed_same_boxes():
    scene, _ = planted_scene(10, seed=5, keep=0.25)
    problem, _, _ = build_problem(scene, seed=0, margins=RELAXED)
    runs = [neighbourhood_search(problem, _piled(problem), seed=4, deadline=float("inf")) for _ in range(2)]
    assert runs[0] == runs[1]


@settings(max_examples=8, deadline=None)
@given(n=st.integers(7, 14), seed=st.integers(0, 10**6), keep=st.sampled_from([None, 0.1, 0.3]))
def test_never_breaks_more_than_it_started_with(n, seed, keep):
    scene, _ = planted_scene(n, seed=seed, keep=keep)
    problem, _, _ = build_problem(scene, seed=seed, margins=RELAXED)
    start = _piled(problem)
    boxes, done = neighbourhood_search(problem, start, seed=seed, deadline=time.perf_counter() + 3)
    after = problem.violations(boxes)
    assert len(after) <= len(problem.violations(start))
    assert done == (after == [])


def test_linear_steps_mend_a_large_start_without_cp_sat(monkeypatch):
    """Past LOCAL_FROM boxes, a start with a few broken constraints (the projections' kind) is
    mended by linear steps alone: here CP-SAT steps are made to find nothing."""
    from dataclasses import replace

    from compose.solvers import lns
    from compose.solvers.arrange import arranged_targets
    from compose.solvers.project import projected_layout

    scene, _ = planted_scene(260, seed=12, keep=None)
    problem, _, _ = build_problem(scene, seed=0, margins=RELAXED)

    start, broken = projected_layout(replace(problem, targets=arranged_targets(problem, seed=0)), seed=0, sweeps=320)
    assert broken > 0
    monkeypatch.setattr(lns, "_solve_neighbourhood", lambda *a, **k: None)
    boxes, done = neighbourhood_search(problem, start, seed=0, deadline=time.perf_counter() + 60)
    assert len(problem.violations(boxes)) < len(problem.violations(start))
    assert done == (problem.violations(boxes) == [])


def test_past_local_from_a_neighbourhood_is_the_nearest_boxes_not_the_linked(monkeypatch):
    import random

    from compose.solvers import lns
    from compose.solvers.model import Problem

    # a row of boxes 10 apart; "a" (at the left end) is related to "far" (at the right end)
    p = Problem(200, 40)
    names = ["a", "b", "c", "d", "e", "far"]
    for name in names:
        p.add_box(name, min_size=(5, 5), max_size=(10, 10))
    p.require(p.box("a").x1 + 5 <= p.box("far").x0)
    boxes = {name: (20 * k, 0, 20 * k + 10, 10) for k, name in enumerate(names)}
    index = lns._Index(p)
    movable = set(names)

    def around_a():
        return lns._local_neighbourhood(index, boxes, [{"a"}], movable, 3, random.Random(0))

    monkeypatch.setattr(lns, "LOCAL_FROM", 100)
    assert around_a() == {"a", "far", "b"}  # the linked box first, then the nearest
    monkeypatch.setattr(lns, "LOCAL_FROM", 3)
    assert around_a() == {"a", "b", "c"}  # the nearest on the canvas only


def test_concurrent_steps_answer_as_the_same_steps_one_after_another():
    """CP-SAT steps searched in threads (CONCURRENT_STEPS) give what each gives alone, in order:
    the layout does not depend on how many cores run them."""
    import random

    from compose.solvers import lns

    scene, _ = planted_scene(14, seed=8, keep=0.25)
    problem, _, _ = build_problem(scene, seed=0, margins=RELAXED)
    boxes = _piled(problem)
    index = lns._Index(problem)
    failing, pairs = index.broken(boxes)
    broken_sets = [index.boxes_of[i] & index.movable for i in failing] + [{a, c} for a, c in pairs]
    rng = random.Random(0)
    neighbourhoods = [lns._neighbourhood(index, boxes, broken_sets, index.movable, 8, rng) for _ in range(3)]
    assert len({frozenset(n) for n in neighbourhoods}) > 1
    together = lns._solve_neighbourhoods(problem, index, boxes, neighbourhoods, failing, pairs, seed=5,
                                         deadline=float("inf"), effort=1.0)
    alone = [lns._solve_neighbourhoods(problem, index, boxes, [freed], failing, pairs, seed=5 + k,
                                       deadline=float("inf"), effort=1.0)[0]
             for k, freed in enumerate(neighbourhoods)]
    assert together == alone
    assert any(found is not None for found in together)
