"""The harder prompt set (tests/data/prompts_hard.jsonl): sentences beyond GenEval's templates.

Each line has the prompt, its category and the expected scene: groups (name, class, count or a
[min, max] range, color, size), relations (subject, predicate, objects; ``name[i]`` for an
instance), forbidden classes, requirements ([target, op, value]) and, where the prompt names
them, background and style.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from compose.api import parse_prompts

DATA = Path(__file__).parents[1] / "data" / "prompts_hard.jsonl"

#: Prompts read exactly right out of 260; the test fails when the figure changes. The three misses:
#: two prepositional attachments the dependency parse decides otherwise than the expected reading
#: (both readings are defensible): "a brown dog is lying on a blue rug in front of a fireplace"
#: (read: the rug is in front of the fireplace) and "an owl sitting on a branch above a sleeping
#: fox" (read: the owl is above the fox); and "a golden retriever" (read: class "retriever",
#: material "golden").
EXPECTED_CORRECT = 257


def observed(scene) -> dict:
    groups = []
    for g in scene.objects:
        entry = {"name": g.name, "class": g.class_name,
                 "count": g.count if isinstance(g.count, int) else [g.count.min, g.count.max]}
        if g.color:
            entry["color"] = g.color
        if g.size:
            entry["size"] = g.size
        groups.append(entry)
    relations = [[str(st.subject), st.predicate, *map(str, st.objects)] for st in scene.statements]
    return {"groups": groups, "relations": relations, "forbid": scene.forbid,
            "requirements": [[q.target, q.op, q.value] for q in scene.requirements],
            "background": scene.background, "style": scene.style}


def differences(expected: dict, scene) -> list[str]:
    got = observed(scene)
    out = []
    by_name = lambda e: e["name"]
    if sorted(got["groups"], key=by_name) != sorted(expected["groups"], key=by_name):
        out.append(f"groups {got['groups']}")
    if sorted(got["relations"]) != sorted(expected["relations"]):
        out.append(f"relations {got['relations']}")
    if sorted(got["forbid"]) != sorted(expected["forbid"]):
        out.append(f"forbid {got['forbid']}")
    if got["requirements"] != expected.get("requirements", []):
        out.append(f"requirements {got['requirements']}")
    for key in ("background", "style"):
        if got[key] != expected.get(key):
            out.append(f"{key} {got[key]!r}")
    return out


@pytest.fixture(scope="module")
def cases():
    records = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return records, parse_prompts([r["prompt"] for r in records])


def test_the_set_is_large_and_varied(cases):
    records, _ = cases
    assert len(records) >= 100
    categories = Counter(r["category"] for r in records)
    assert len(categories) >= 8 and min(categories.values()) >= 5
    assert sum(len(r["groups"]) >= 3 for r in records) >= 20
    assert sum(bool(r["forbid"]) for r in records) >= 15
    assert sum(any(rel[1] == "between" for rel in r["relations"]) for r in records) >= 5


def test_hard_prompts_accuracy(cases):
    records, scenes = cases
    failures = [(r["prompt"], d) for r, s in zip(records, scenes) if (d := differences(r, s))]
    correct = len(records) - len(failures)
    listing = "\n".join(f"  {p!r}: {'; '.join(d)}" for p, d in failures)
    assert correct == EXPECTED_CORRECT, f"{correct}/{len(records)} read exactly; failures:\n{listing}"


def test_differences_notice_a_wrong_scene(cases):
    records, scenes = cases
    k = next(i for i, r in enumerate(records) if r["relations"] and r["forbid"] == [])
    assert differences(records[k], scenes[k]) == []
    assert differences(records[k], scenes[k].model_copy(update={"statements": []}))


def test_every_hard_scene_formats_to_a_program_that_parses_back(cases):
    from compose.api import format_scene, parse_program

    _, scenes = cases
    for scene in scenes:
        if scene.objects or scene.forbidden or scene.background or scene.style:
            plain = scene.model_copy(update={"prompt": None, "warnings": []})
            assert parse_program(format_scene(scene)) == plain, scene.prompt
