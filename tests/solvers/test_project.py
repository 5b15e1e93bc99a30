"""The projections start: layouts it reports hold exactly, its count is what is broken, it is seeded."""

import random

import numpy as np
from compose.solvers.model import Problem, overlap
from compose.solvers.project import _near_pairs, projected_layout
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.placement import build_problem
from compose.placement.planted import planted_scene
from compose.relations import RELAXED


def _completeness_scene(k: int):
    """Planted scene ``k`` as ``benchmarks/bench_solver.py``'s completeness rows draw it."""
    rng = random.Random(f"completeness:{k}")
    n = rng.randint(2, 30)
    return planted_scene(n, seed=k, keep=rng.choice([None, 0.1, 0.25, 0.5]),
                         groups=rng.choice([0.0, 0.3]), children=rng.choice([0.0, 0.2, 0.4]))[0]


def test_lays_out_a_dense_scene_whose_linear_start_clashes():
    # 16 objects, 120 relations (every relation between neighbours kept with chance 0.5): the
    # linear start's greedy choices leave constraints broken here, the projections do not
    scene = _completeness_scene(2051)
    problem, _, _ = build_problem(scene, seed=2051, margins=RELAXED)
    boxes, broken = projected_layout(problem, seed=2051)
    assert broken == 0
    assert problem.violations(boxes) == []


def test_same_problem_same_boxes_and_layout_seeds_differ():
    # the layout seed reaches the boxes through the problem's seeded targets
    scene, _ = planted_scene(10, seed=5, keep=0.25)
    problem, _, _ = build_problem(scene, seed=0, margins=RELAXED)
    first = projected_layout(problem, seed=4, sweeps=400)
    assert projected_layout(problem, seed=4, sweeps=400) == first
    other, _, _ = build_problem(scene, seed=1, margins=RELAXED)
    assert projected_layout(other, seed=4, sweeps=400)[0] != first[0]


@settings(max_examples=12, deadline=None)
@given(n=st.integers(2, 16), seed=st.integers(0, 10**6), keep=st.sampled_from([None, 0.1, 0.5]),
       sweeps=st.integers(1, 300))
def test_the_count_is_what_the_boxes_break(n, seed, keep, sweeps):
    scene, _ = planted_scene(n, seed=seed, keep=keep, children=0.3)
    problem, _, _ = build_problem(scene, seed=seed, margins=RELAXED)
    boxes, broken = projected_layout(problem, seed=seed, sweeps=sweeps)
    assert broken == len(problem.violations(boxes))


def test_fixed_boxes_stay_and_the_rest_keep_their_bounds():
    p = Problem(100, 100)
    p.add_box("wall", fixed=(40, 0, 60, 100))
    for name in "abc":
        p.add_box(name, min_size=(15, 15), max_size=(30, 30))
    p.require(p.box("a").x1 + 5 <= p.box("wall").x0)
    p.require(p.box("wall").x1 + 5 <= p.box("b").x0)
    p.no_overlap(["wall", "a", "b", "c"])
    boxes, broken = projected_layout(p, seed=1)
    assert broken == 0 and p.violations(boxes) == []
    assert boxes["wall"] == (40, 0, 60, 100)
    for name in "abc":
        x0, y0, x1, y1 = boxes[name]
        assert 15 <= x1 - x0 <= 30 and 15 <= y1 - y0 <= 30


@settings(max_examples=60, deadline=None)
@given(boxes=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(1, 20), st.integers(1, 20)),
                      min_size=0, max_size=25),
       gap=st.integers(0, 6), allow=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24)), max_size=6))
def test_near_pairs_are_the_overlapping_pairs(boxes, gap, allow):
    k = len(boxes)
    allowed = sorted({min(a, c) * k + max(a, c) for a, c in allow if a < k and c < k and a != c})
    array = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    lo, hi = _near_pairs(array, float(gap), np.asarray(allowed, dtype=np.int64))
    found = set(zip(lo.tolist(), hi.tolist()))
    grid = [(x, y, x + w, y + h) for x, y, w, h in boxes]
    expected = {(a, c) for a in range(k) for c in range(a + 1, k)
                if overlap(grid[a], grid[c], gap) and a * k + c not in allowed}
    assert found == expected


def test_settled_sweeps_stop_once_few_constraints_are_broken():
    # settle = (sweeps, broken): from that sweep on, stop once a check of the rounded boxes has
    # found at most ``broken``; the first check comes once the boxes are grown (GROW_SWEEPS)
    from compose.solvers.project import GROW_SWEEPS

    problem, _, _ = build_problem(_completeness_scene(9), seed=9, margins=RELAXED)
    settled = projected_layout(problem, seed=9, sweeps=5000, settle=(10, 10**6))
    assert settled == projected_layout(problem, seed=9, sweeps=GROW_SWEEPS + 1)
    assert settled[1] > 0 and projected_layout(problem, seed=9, sweeps=5000)[1] == 0  # it did stop short
    # a bound no check meets never stops the sweeps early
    assert projected_layout(problem, seed=9, sweeps=400, settle=(10, -1)) == projected_layout(problem, seed=9, sweeps=400)
