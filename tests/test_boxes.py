"""compose.boxes: the geometry every stage shares, checked by its properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compose.boxes import area, intersection_area, iou, non_max_suppression, union, valid_box

coordinate = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def boxes(draw):
    x0, x1 = sorted((draw(coordinate), draw(coordinate)))
    y0, y1 = sorted((draw(coordinate), draw(coordinate)))
    return (x0, y0, x1, y1)


@given(boxes(), boxes())
def test_iou_is_symmetric_and_bounded(a, b):
    assert iou(a, b) == iou(b, a)
    assert 0.0 <= iou(a, b) <= 1.0 + 1e-9
    assert intersection_area(a, b) <= min(area(a), area(b)) + 1e-12


@given(boxes(), boxes())
def test_union_holds_both(a, b):
    u = union(a, b)
    for box in (a, b):
        assert u[0] <= box[0] and u[1] <= box[1] and u[2] >= box[2] and u[3] >= box[3]


@given(boxes())
def test_a_box_overlaps_itself_fully(box):
    if area(box) > 0:
        assert abs(iou(box, box) - 1.0) < 1e-9
        assert valid_box(box)


def test_non_max_suppression_keeps_the_best_of_each_cluster():
    kept = non_max_suppression([(0, 0, 10, 10), (1, 1, 10, 10), (20, 20, 30, 30), (0, 0, 9, 10)],
                               [0.5, 0.9, 0.7, 0.4], threshold=0.5)
    assert kept == [1, 2]
    assert non_max_suppression([], []) == []
