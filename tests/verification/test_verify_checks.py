"""Symbolic checks: planted scenes, GenEval's position rule, masks, GenEval metadata, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.layouts import Layout, Region
from compose.relations import RELATIONS, geneval_relations
from compose.scene import (
    CountRange,
    Forbidden,
    ObjectGroup,
    Ref,
    RelationStatement,
    Requirement,
    Scene,
)
from compose.verification import verify
from compose.verification.checks import bind_instances, run_checks
from compose.verification.detection import Detection
from compose.verification.geneval import (
    results_row,
    scene_from_metadata,
    summary_table,
    tag_accuracy,
)
from compose.world.draw import render_layout


def _region(shape: str, color: str, z: int = 0) -> Region:
    return Region(phrase=f"a {color} {shape}", attributes={"color": color}, z=z, **{"class": shape})


def _planted():
    """Two red circles left of a blue square, and a green star above the square."""
    scene = Scene(objects=[ObjectGroup(name="circle", phrase="red circles", count=2, color="red"),
                           ObjectGroup(name="square", phrase="a blue square", color="blue"),
                           ObjectGroup(name="star", phrase="a green star", color="green")],
                  statements=[RelationStatement(subject=Ref(group="circle"), predicate="left_of", objects=[Ref(group="square")]),
                              RelationStatement(subject=Ref(group="star"), predicate="above", objects=[Ref(group="square")])])
    layout = Layout(canvas=(64, 64), boxes={"circle#0": (0.05, 0.45, 0.25, 0.65), "circle#1": (0.05, 0.75, 0.25, 0.95),
                                            "square#0": (0.6, 0.55, 0.9, 0.85), "star#0": (0.6, 0.05, 0.9, 0.35)},
                    objects={"circle#0": _region("circle", "red"), "circle#1": _region("circle", "red"),
                             "square#0": _region("square", "blue"), "star#0": _region("star", "green")})
    return scene, layout, render_layout(layout).image


def _failing(report) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.kind, tuple(c.subjects)) for c in report.checks if c.hard and not c.passed]


def test_planted_render_passes_its_own_scene():
    scene, layout, image = _planted()
    for lay in (layout, None):
        report = verify(scene, image, layout=lay)
        assert report.passed, report.summary()
        assert [c.kind for c in report.checks].count("relation") == 3
        assert all(c.score == 1.0 for c in report.checks)


def test_one_more_instance_fails_exactly_its_count_and_the_missing_instance():
    scene, _layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.objects[0].count = 3
    report = verify(changed, image)
    assert _failing(report) == [("count", ("circle",)), ("color", ("circle#2",)), ("relation", ("circle#2", "square#0"))]
    assert "found 2 circles, expected 3" in report.failed[0].reason


def test_another_color_fails_exactly_the_color_check():
    scene, layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.objects[1].color = "yellow"
    for lay in (layout, None):
        report = verify(changed, image, layout=lay)
        assert _failing(report) == [("color", ("square#0",))]
        assert report.failed[0].reason == "square#0 is blue, expected yellow"


def test_mirrored_relation_fails_exactly_the_relation_checks():
    scene, layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.statements[0].predicate = "right_of"
    report = verify(changed, image, layout=layout)
    assert _failing(report) == [("relation", ("circle#0", "square#0")), ("relation", ("circle#1", "square#0"))]
    assert report.failed[0].reason.startswith("circle#0 is not right of square#0")


def test_an_extra_object_fails_exactly_its_count_and_color():
    scene, _layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.objects.append(ObjectGroup(name="cross", phrase="a pink cross", color="pink"))
    report = verify(changed, image)
    assert _failing(report) == [("count", ("cross",)), ("color", ("cross#0",))]
    assert report.failed[0].reason == "found 0 crosses, expected 1"


def test_soft_relations_are_reported_and_never_fail():
    scene, layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.statements.append(RelationStatement(subject=Ref(group="star"), predicate="below",
                                                objects=[Ref(group="square")], hard=False))
    report = verify(changed, image, layout=layout)
    soft = [c for c in report.checks if not c.hard]
    assert len(soft) == 1 and not soft[0].passed and soft[0].reason.startswith("(soft)")
    assert report.passed


def test_forbidden_require_and_ranges():
    scene, _layout, image = _planted()
    changed = scene.model_copy(deep=True)
    changed.forbidden.append(Forbidden(name="square"))
    changed.forbidden.append(Forbidden(name="triangle"))
    changed.requirements.append(Requirement(target="circle", op=">=", value=3))
    changed.objects[0].count = CountRange(min=1, max=2)
    report = verify(changed, image)
    kinds = {(c.kind, c.subjects[0]): c for c in report.checks}
    assert kinds[("count_range", "circle")].passed
    assert not kinds[("forbidden", "square")].passed and kinds[("forbidden", "triangle")].passed
    assert kinds[("require", "circle")].reason == "count(circle) = 2, required >= 3"
    assert not report.passed


def test_geneval_count_rule_at_least_n_and_not_n_plus_1():
    scene = Scene(objects=[ObjectGroup(name="circle", phrase="circles", count=2)])
    dets = [Detection((0.1 * i, 0.1, 0.1 * i + 0.05, 0.2), "circle", 0.9) for i in range(3)]
    assert [c.passed for c in run_checks(scene, dets[:2])] == [True]
    assert [c.passed for c in run_checks(scene, dets)] == [False]
    assert [c.passed for c in run_checks(scene, dets[:1])] == [False]
    assert [c.passed for c in run_checks(scene, dets, count_rule="at_least")] == [True]


def test_binding_follows_layout_boxes():
    scene = Scene(objects=[ObjectGroup(name="c", phrase="circles", count=2, **{"class": "circle"})],
                  statements=[RelationStatement(subject=Ref(group="c", index=0), predicate="left_of",
                                                objects=[Ref(group="c", index=1)])])
    lay = Layout(canvas=(64, 64), boxes={"c#0": (0.1, 0.1, 0.3, 0.3), "c#1": (0.6, 0.1, 0.8, 0.3)})
    dets = [Detection((0.6, 0.1, 0.8, 0.3), "circle", 0.99), Detection((0.1, 0.1, 0.3, 0.3), "circle", 0.5)]
    assert bind_instances(scene, dets, {"c": 2}, lay) == {"c#0": 1, "c#1": 0}
    assert all(c.passed for c in run_checks(scene, dets, lay))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 0.7), min_size=4, max_size=4), st.lists(st.floats(0.02, 0.3), min_size=4, max_size=4))
def test_position_predicates_agree_with_genevals_rule(origins, sizes):
    a = (origins[0], origins[1], origins[0] + sizes[0], origins[1] + sizes[1])
    b = (origins[2], origins[3], origins[2] + sizes[2], origins[3] + sizes[3])
    truth = geneval_relations(a, b)
    for words, name in (("left of", "left_of"), ("right of", "right_of"), ("above", "above"), ("below", "below")):
        assert RELATIONS[name].check(a, [b]).passed == (words in truth)
        dets = [Detection(a, "circle", 0.9), Detection(b, "square", 0.9)]
        scene = scene_from_metadata({"tag": "position", "prompt": "p", "include": [
            {"class": "square", "count": 1}, {"class": "circle", "count": 1, "position": [words, 0]}]})
        relation = [c for c in run_checks(scene, dets, count_rule="at_least") if c.kind == "relation"]
        assert relation[0].passed == (words in truth)


def test_masks_decide_inside_and_layering():
    scene = Scene(objects=[ObjectGroup(name="star", phrase="a star", color="yellow"),
                           ObjectGroup(name="square", phrase="a square", color="blue"),
                           ObjectGroup(name="circle", phrase="a circle", color="red")],
                  statements=[RelationStatement(subject=Ref(group="star"), predicate="inside", objects=[Ref(group="square")]),
                              RelationStatement(subject=Ref(group="circle"), predicate="in_front_of", objects=[Ref(group="square")])])
    lay = Layout(canvas=(96, 96), boxes={"square#0": (0.1, 0.1, 0.6, 0.6), "star#0": (0.2, 0.2, 0.4, 0.4),
                                         "circle#0": (0.45, 0.4, 0.75, 0.7)},
                 objects={"square#0": _region("square", "blue"), "star#0": _region("star", "yellow", 1),
                          "circle#0": _region("circle", "red", 1)})
    image = render_layout(lay).image
    report = verify(scene, image, layout=lay)
    assert report.passed, report.summary()
    relation = [c for c in report.checks if c.kind == "relation"]
    assert "pixels lie within" in relation[0].reason and "owns" in relation[1].reason
    behind = scene.model_copy(deep=True)
    behind.statements[1].predicate = "behind"
    assert _failing(verify(behind, image, layout=lay)) == [("relation", ("circle#0", "square#0"))]


def test_geneval_metadata_to_scene_and_results_row():
    meta = {"tag": "counting", "include": [{"class": "clock", "count": 2}], "exclude": [{"class": "clock", "count": 3}],
            "prompt": "a photo of two clocks"}
    scene = scene_from_metadata(meta)
    assert scene.objects[0].count == 2 and scene.requirements[0].op == "<"
    dets = [Detection((0.1 * i, 0.1, 0.1 * i + 0.05, 0.2), "clock", 0.9) for i in range(3)]
    report = verify(scene, np.zeros((32, 32, 3), np.uint8), detections=dets, count_rule="at_least")
    row = results_row(report, "0/samples/0000.png", meta)
    assert set(row) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    assert row["correct"] is False and row["reason"] == "count(clock) = 3, required < 3"
    assert json.loads(row["details"])["clock"][0] == [0.0, 3.2, 1.6, 6.4, 0.9]
    assert json.loads(row["metadata"]) == meta


def test_every_line_of_genevals_metadata_becomes_a_scene():
    from pathlib import Path

    path = Path(__file__).parent.parent / "data" / "geneval" / "evaluation_metadata.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 553
    for meta in lines:
        scene = scene_from_metadata(meta)
        assert sum(g.count for g in scene.objects) == sum(e["count"] for e in meta["include"])


def test_reports_json_html_and_genevals_summary():
    scene, layout, image = _planted()
    report = verify(scene, image, layout=layout)
    data = json.loads(report.to_json())
    assert data["passed"] is True and {"kind", "passed", "score", "reason"} <= set(data["checks"][0])
    page = report.to_html(image)
    assert page.count("<rect") == 8 and "data:image/png;base64," in page and "left of" in page
    summary = tag_accuracy([{"tag": "a", "correct": True}, {"tag": "a", "correct": False}, {"tag": "b", "correct": False}])
    assert summary["overall"] == pytest.approx(0.25)
    assert "Overall score (avg. over tasks): 0.25000" in summary_table(summary)
