"""The linear start: elastic choices of branches and sides, guides, the quick mode of the backend."""

from __future__ import annotations

import pytest
from compose.solvers import Problem
from compose.solvers.cpsat import CpSatBackend
from compose.solvers.relax import relaxed_layout

from compose.errors import LayoutError


def _row_of_boxes(count: int, width: int = 200, height: int = 60) -> Problem:
    p = Problem(width, height)
    names = [f"b{i}" for i in range(count)]
    for name in names:
        p.add_box(name, min_size=(30, 30))
        p.target(p.box(name).cx2, width, 1)  # all want the middle
    p.no_overlap(names)
    return p


def test_clashing_nearest_branches_try_their_next_ones():
    # "a before b on x or on y" and "b before a on x or on y": the first branch of each (x) is
    # as near as the second where both boxes start, and the two first branches contradict each
    # other, so one of the two disjunctions must take its second branch.
    p = Problem(100, 100)
    a, b = p.add_box("a", min_size=(30, 30)), p.add_box("b", min_size=(30, 30))
    p.require_any([[a.x1 <= b.x0], [a.y1 <= b.y0]])
    p.require_any([[b.x1 <= a.x0], [b.y1 <= a.y0]])
    boxes, complete = relaxed_layout(p)
    assert complete and p.violations(boxes) == []
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes["a"], boxes["b"]
    assert (ax1 <= bx0 and by1 <= ay0) or (ay1 <= by0 and bx1 <= ax0)


def test_separations_whose_cheapest_sides_clash_find_others():
    # Six boxes that all want the middle of a strip with room for six side by side and no room
    # to stack: every pair must separate along x, whatever side is cheapest at the start.
    p = _row_of_boxes(6)
    boxes, complete = relaxed_layout(p)
    assert complete and p.violations(boxes) == []
    assert len({b[0] for b in boxes.values()}) == 6


def test_an_impossible_choice_is_left_broken_not_looped_on():
    # Three 30 x 30 boxes on 70 x 40 fit by area but not by shape: the start says it is incomplete.
    p = _row_of_boxes(3, width=70, height=40)
    boxes, complete = relaxed_layout(p, seconds=5)
    assert complete is False
    assert p.violations(boxes)


def test_quick_solve_returns_a_start_that_holds_and_refuses_one_that_does_not():
    backend = CpSatBackend()
    easy = _row_of_boxes(3)
    assert backend.solve(easy, quick=True).status == "relaxed"
    hard = _row_of_boxes(3, width=70, height=40)  # fits by area, not by shape
    with pytest.raises(LayoutError) as err:
        backend.solve(hard, quick=True, explain=False)
    assert err.value.code == "E302"


def test_quick_start_is_reused_by_the_full_solve(monkeypatch):
    from compose.solvers import cpsat

    calls = []
    real = cpsat.relaxed_layout

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cpsat, "relaxed_layout", counted)
    # three 30 x 30 boxes on 80 x 45: room by area, none by shape, so the start breaks something
    p = _row_of_boxes(3, width=80, height=45)
    backend = CpSatBackend()
    with pytest.raises(LayoutError) as quick:
        backend.solve(p, quick=True, explain=False, time_limit=5)
    assert quick.value.code == "E302"
    with pytest.raises(LayoutError) as full:
        backend.solve(p, time_limit=5, explain=False)
    assert full.value.code == "E301"
    assert len(calls) == 1  # the full solve took the quick one's start


def test_guided_start_takes_the_guides_arrangement():
    p = Problem(100, 100)
    a, b = p.add_box("a", min_size=(30, 30)), p.add_box("b", min_size=(30, 30))
    p.no_overlap(["a", "b"])
    p.target(a.x0, 0, 1)
    p.target(b.x0, 0, 1)
    guide = {"a": (0, 0, 30, 30), "b": (0, 60, 30, 90)}  # a above b
    solution = CpSatBackend().solve(p, quick=True, guide=guide)
    assert solution.boxes["a"][3] <= solution.boxes["b"][1]
    assert p.violations(solution.boxes) == []
