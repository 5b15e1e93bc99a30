import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.relations import RELATIONS, geneval_offset, geneval_relations, lookup_words

L = (0.0, 0.4, 0.2, 0.6)   # a box on the left
R = (0.6, 0.4, 0.8, 0.6)   # a box on the right, same row
T = (0.4, 0.0, 0.6, 0.2)   # top
B = (0.4, 0.7, 0.6, 0.9)   # bottom


def geneval_reference(box_a, box_b):
    """GenEval's relative_position, as in its evaluation code (boxes as x0, y0, x1, y1)."""
    boxes = np.array([box_a, box_b])[:, :4].reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - 0.1 * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    out = set()
    if dx < -0.5:
        out.add("left of")
    if dx > 0.5:
        out.add("right of")
    if dy < -0.5:
        out.add("above")
    if dy > 0.5:
        out.add("below")
    return out


@pytest.mark.parametrize("name, subject, obj, expected", [
    ("left_of", L, R, True), ("left_of", R, L, False), ("right_of", R, L, True),
    ("above", T, B, True), ("above", B, T, False), ("below", B, T, True),
    # GenEval margin cases: the offset shrinks by 0.1 * (0.2 + 0.2) = 0.04 per axis, so centres
    # 0.03 apart mean no relation; 0.05 apart give dx = -0.01 / 0.05 = -0.2 (not left of);
    # 0.09 apart give -0.05 / 0.09 = -0.56 (left of)
    ("left_of", (0.0, 0.0, 0.2, 0.2), (0.03, 0.0, 0.23, 0.2), False),
    ("right_of", (0.03, 0.0, 0.23, 0.2), (0.0, 0.0, 0.2, 0.2), False),
    ("left_of", (0.0, 0.0, 0.2, 0.2), (0.05, 0.0, 0.25, 0.2), False),
    ("left_of", (0.0, 0.0, 0.2, 0.2), (0.09, 0.0, 0.29, 0.2), True),
    # a diagonal counts for both axes (0.28 / 0.42 = 0.66 > 0.5) ...
    ("left_of", (0.0, 0.0, 0.1, 0.1), (0.3, 0.3, 0.4, 0.4), True),
    ("above", (0.0, 0.0, 0.1, 0.1), (0.3, 0.3, 0.4, 0.4), True),
    # ... but mostly-vertical offsets are not "left of" (0.06 / 0.51 = 0.12)
    ("left_of", (0.0, 0.0, 0.2, 0.2), (0.1, 0.5, 0.3, 0.7), False),
    ("on", (0.4, 0.2, 0.6, 0.41), (0.3, 0.4, 0.7, 0.8), True),
    ("on", (0.4, 0.0, 0.6, 0.1), (0.3, 0.4, 0.7, 0.8), False),
    ("on", (0.8, 0.2, 0.95, 0.41), (0.3, 0.4, 0.7, 0.8), False),
    ("under", (0.4, 0.7, 0.6, 0.9), (0.3, 0.3, 0.7, 0.8), True),
    ("under", (0.4, 0.1, 0.6, 0.3), (0.3, 0.3, 0.7, 0.8), False),
    ("inside", (0.4, 0.4, 0.5, 0.5), (0.3, 0.3, 0.7, 0.8), True),
    ("inside", (0.2, 0.4, 0.5, 0.5), (0.3, 0.3, 0.7, 0.8), False),
    ("near", (0.1, 0.1, 0.2, 0.2), (0.25, 0.1, 0.35, 0.2), True),
    ("near", (0.0, 0.0, 0.1, 0.1), (0.8, 0.8, 0.9, 0.9), False),
    ("next_to", (0.1, 0.4, 0.3, 0.6), (0.32, 0.42, 0.5, 0.62), True),
    ("next_to", (0.1, 0.4, 0.3, 0.6), (0.32, 0.8, 0.5, 0.95), False),
    ("next_to", (0.0, 0.4, 0.1, 0.6), (0.7, 0.4, 0.8, 0.6), False),
    ("in_front_of", (0.4, 0.5, 0.7, 0.9), (0.3, 0.3, 0.6, 0.8), True),
    ("in_front_of", (0.4, 0.1, 0.7, 0.5), (0.3, 0.3, 0.6, 0.8), False),
    ("behind", (0.4, 0.1, 0.7, 0.5), (0.3, 0.3, 0.6, 0.8), True),
    ("behind", (0.0, 0.0, 0.1, 0.1), (0.3, 0.3, 0.6, 0.8), False),
    ("larger_than", (0.0, 0.0, 0.5, 0.5), (0.0, 0.0, 0.2, 0.2), True),
    ("larger_than", (0.0, 0.0, 0.2, 0.2), (0.0, 0.0, 0.21, 0.21), False),
    ("smaller_than", (0.0, 0.0, 0.2, 0.2), (0.0, 0.0, 0.5, 0.5), True),
])
def test_predicates_on_hand_made_boxes(name, subject, obj, expected):
    verdict = RELATIONS[name].check(subject, [obj])
    assert verdict.passed is expected, verdict.reason
    assert 0.0 <= verdict.score <= 1.0
    assert (verdict.score == 1.0) is expected
    assert verdict.reason.startswith("not ") is not expected


def test_between():
    spec = RELATIONS["between"]
    assert spec.check((0.4, 0.4, 0.5, 0.5), [(0.0, 0.4, 0.1, 0.5), (0.8, 0.4, 0.9, 0.5)]).passed
    assert spec.check((0.4, 0.4, 0.5, 0.5), [(0.4, 0.0, 0.5, 0.1), (0.4, 0.8, 0.5, 0.9)]).passed
    assert not spec.check((0.0, 0.0, 0.1, 0.1), [(0.4, 0.4, 0.5, 0.5), (0.8, 0.4, 0.9, 0.5)]).passed
    with pytest.raises(ValueError):
        spec.check((0, 0, 1, 1), [(0, 0, 1, 1)])


def test_reasons_are_readable():
    reason = RELATIONS["left_of"].check(R, [L]).reason
    assert reason == "not left of: normalised dx = +0.93, needs < -0.5"


boxes = st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.01, 0.5), st.floats(0.01, 0.5)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))


@given(boxes, boxes)
def test_direction_predicates_agree_with_geneval(a, b):
    expected = geneval_reference(a, b)
    assert geneval_relations(a, b) == expected
    for words, name in [("left of", "left_of"), ("right of", "right_of"), ("above", "above"), ("below", "below")]:
        assert RELATIONS[name].check(a, [b]).passed == (words in expected)


def test_offset_is_none_when_centres_coincide():
    assert geneval_offset((0, 0, 1, 1), (0, 0, 1, 1)) is None
    assert not math.isnan(RELATIONS["left_of"].check((0, 0, 1, 1), [(0, 0, 1, 1)]).score)


def test_words_lookup():
    assert lookup_words("To the left of").name == "left_of"
    assert lookup_words("sitting on").name == "on"
    assert lookup_words("in front of").name == "in_front_of"
    assert lookup_words("levitating near") is None
    for spec in RELATIONS.values():
        for phrase in spec.all_words:
            assert lookup_words(phrase) is not None
