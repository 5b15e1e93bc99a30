"""GenEval's 553 prompts: every scene's classes, counts, colors and position equal the metadata."""

import json
from collections import Counter
from pathlib import Path

import pytest

from compose.api import parse_prompts
from compose.relations import GENEVAL_POSITIONS

DATA = Path(__file__).parents[1] / "data" / "geneval"

#: Prompts read exactly right; this test fails when the figure drops (or rises: then raise it).
EXPECTED_CORRECT = 553


def _rows():
    return [json.loads(line) for line in (DATA / "evaluation_metadata.jsonl").read_text().splitlines()
            if line.strip()]


def mismatch(row, scene) -> str | None:
    """Why ``scene`` differs from GenEval's ``include`` metadata for ``row``, or ``None``."""
    include = row["include"]
    want = Counter((i["class"], i["count"], i.get("color")) for i in include)
    got = Counter((g.class_name, g.count, g.color) for g in scene.objects)
    if want != got:
        return f"groups {sorted(got)} != {sorted(want)}"
    group_of = {}
    for k, entry in enumerate(include):
        key = (entry["class"], entry["count"], entry.get("color"))
        group_of[k] = next(g.name for g in scene.objects if (g.class_name, g.count, g.color) == key)
    want_rel = sorted((group_of[k], GENEVAL_POSITIONS[e["position"][0]], group_of[e["position"][1]])
                      for k, e in enumerate(include) if "position" in e)
    got_rel = sorted((s.subject.group, s.predicate, s.objects[0].group) for s in scene.statements)
    if want_rel != got_rel:
        return f"relations {got_rel} != {want_rel}"
    if scene.forbidden:
        return f"forbidden {scene.forbid}"
    return None


@pytest.fixture(scope="module")
def read():
    rows = _rows()
    return rows, parse_prompts([r["prompt"] for r in rows])


def test_the_data_is_complete():
    rows = _rows()
    assert len(rows) == 553
    assert Counter(r["tag"] for r in rows) == {"single_object": 80, "two_object": 99, "counting": 80,
                                               "colors": 94, "position": 100, "color_attr": 100}
    names = (DATA / "object_names.txt").read_text().split("\n")
    assert len([n for n in names if n]) == 80


def test_geneval_prompts_read_exactly(read):
    rows, scenes = read
    failures = [(r["prompt"], why) for r, s in zip(rows, scenes) if (why := mismatch(r, s))]
    correct = len(rows) - len(failures)
    listing = "\n".join(f"  {p!r}: {why}" for p, why in failures)
    assert correct == EXPECTED_CORRECT, f"{correct}/553 read exactly; failures:\n{listing}"


def test_geneval_prompts_leave_no_warnings_and_no_framing(read):
    rows, scenes = read
    noisy = [(r["prompt"], [w.message for w in s.warnings]) for r, s in zip(rows, scenes) if s.warnings]
    assert not noisy
    assert all(s.style is None and s.background is None for s in scenes)
    assert all(s.prompt == r["prompt"] for r, s in zip(rows, scenes))


def test_mismatch_notices_a_wrong_scene(read):
    """The checker itself can fail: a swapped relation or a lost color is caught."""
    rows, scenes = read
    position = next(k for k, r in enumerate(rows) if r["tag"] == "position")
    scene = scenes[position]
    swapped = scene.model_copy(update={"statements": [scene.statements[0].model_copy(
        update={"subject": scene.statements[0].objects[0], "objects": [scene.statements[0].subject]})]})
    assert "relations" in mismatch(rows[position], swapped)
    colored = next(k for k, r in enumerate(rows) if r["tag"] == "colors")
    group = scenes[colored].objects[0]
    blank = scenes[colored].model_copy(update={"objects": [group.model_copy(update={"color": None})]})
    assert "groups" in mismatch(rows[colored], blank)
