"""Fast explanations: conflicts between the statements on one pair of boxes."""

from __future__ import annotations

import time

from compose.solvers import Problem
from compose.solvers.cpsat import CpSatBackend
from compose.solvers.explain import linear_core, pair_core, subproblem
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.errors import InfeasibleLayoutError
from compose.placement import build_problem
from compose.placement.planted import planted_scene
from compose.relations import RELAXED, STRICT
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene


def _scene(*relations: tuple[str, str, str]) -> Scene:
    names = sorted({n for a, _, b in relations for n in (a, b)})
    return Scene(objects=[ObjectGroup(name=n, phrase=f"a {n}") for n in names],
                 statements=[RelationStatement(subject=Ref(group=a), predicate=p, objects=[Ref(group=b)])
                             for a, p, b in relations])


def test_two_statements_on_one_pair_that_conflict_are_named_and_nothing_else():
    p = Problem(100, 100)
    a, b, c = (p.add_box(n, min_size=(10, 10), tag=n) for n in "abc")
    p.require(a.x1 <= b.x0, tag="a left of b")
    p.require(b.x1 + 5 <= a.x0, tag="b left of a")
    p.require(a.y1 <= b.y0, tag="a above b")
    p.require(b.x1 <= c.x0, tag="b left of c")
    assert pair_core(p) == ["a left of b", "b left of a"]


def test_conflicts_of_three_boxes_are_left_to_the_whole_linear_reading():
    p = Problem(100, 100)
    a, b, c = (p.add_box(n, min_size=(10, 10), tag=n) for n in "abc")
    p.require(a.x1 <= b.x0, tag="a<b")
    p.require(b.x1 <= c.x0, tag="b<c")
    p.require(c.x1 <= a.x0, tag="c<a")
    assert pair_core(p) is None
    assert linear_core(p) == ["a<b", "b<c", "c<a"]


def test_a_pair_too_large_for_the_canvas_together_is_a_conflict_with_its_declarations():
    p = Problem(100, 100)
    a = p.add_box("a", min_size=(60, 10), tag="declared a")
    b = p.add_box("b", min_size=(60, 10), tag="declared b")
    p.require(a.x1 <= b.x0, tag="a left of b")
    p.require(a.y0 >= b.y0, tag="a level with b")
    assert set(pair_core(p)) == {"declared a", "declared b", "a left of b"}


def test_strict_margins_that_conflict_on_one_pair_say_so_before_any_linear_start():
    # in front of and behind, both read off one pair of planted boxes whose baselines are level:
    # the strict margins order the baselines both ways
    scene = _scene(("cup", "in_front_of", "mug"), ("cup", "behind", "mug"))
    strict, _, counts = build_problem(scene, seed=0, margins=STRICT)
    core = pair_core(strict)
    assert core is not None and len(core) == 2
    assert {strict.descriptions[t] for t in core} == {"cup in front of mug", "cup behind mug"}
    assert linear_core(subproblem(strict, core)) is not None  # a proof, not a guess
    started = time.perf_counter()
    try:
        CpSatBackend().solve(strict, time_limit=5, explain=False, quick=True)
    except InfeasibleLayoutError as err:
        assert err.code == "E301"
    else:
        raise AssertionError("the strict margins held both orders")
    assert time.perf_counter() - started < 5
    relaxed, _, _ = build_problem(scene, seed=0, counts=counts, margins=RELAXED, declared=strict)
    assert pair_core(relaxed) is None  # the predicates allow both together


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 25), seed=st.integers(0, 10_000))
def test_what_the_planted_boxes_witness_is_never_a_pair_conflict(n, seed):
    """Without the margins, the planted boxes hold every encoding: no pair of statements can be
    called conflicting; with them, a named pair is a proof (its linear reading is infeasible)."""
    scene, _ = planted_scene(n, seed=seed, keep=0.8, children=0.4)
    strict, _, counts = build_problem(scene, seed=0, margins=STRICT)
    relaxed, _, _ = build_problem(scene, seed=0, counts=counts, margins=RELAXED, declared=strict)
    assert pair_core(relaxed) is None
    core = pair_core(strict)
    if core is not None:
        assert linear_core(subproblem(strict, core)) is not None
