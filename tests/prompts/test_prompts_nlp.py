"""A scene from a prompt is a scene like any other: it lays out, renders and verifies."""

import pytest

from compose.api import layout, parse_prompt
from compose.relations import RELATIONS

PROMPTS = [
    "a photo of a dog right of a teddy bear",
    "three red apples to the left of a blue bowl, with no people",
    "an orange diamond between two blue circles",
    "a star above a moon above a house",
]


@pytest.mark.parametrize("text", PROMPTS)
def test_prompt_scenes_lay_out_and_their_relations_hold_on_the_boxes(text):
    scene = parse_prompt(text)
    lay = layout(scene, seed=3)
    assert set(lay.boxes) == {inst.id for inst in scene.instances(scene.resolve_counts(3))}
    for rel in scene.relations(scene.resolve_counts(3)):
        verdict = RELATIONS[rel.predicate].check(lay.boxes[rel.subject], [lay.boxes[o] for o in rel.object_ids])
        assert verdict.passed, (text, rel, verdict.reason)


def test_a_shapes_prompt_renders_and_verifies():
    from compose.api import render, verify

    scene = parse_prompt("a red circle to the left of a blue square, and two yellow stars above the square")
    lay = layout(scene, seed=0)
    image = render(lay, backbone="procedural", seed=0).images[0]
    report = verify(scene, image, layout=lay)
    assert report.passed
