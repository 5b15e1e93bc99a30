"""Layered repair (compose.repair.layer): sprites drawn alone, composited in z-order.

Planted faults on the real procedural backbone (its first render leaves an instance out, or
draws it elsewhere); the sprite sheets and the composite are the real ones, checked by the real
world detector and verifier.
"""

import numpy as np
import pytest

from compose.backbones.procedural import ProceduralBackbone
from compose.loop import generate
from compose.placement import place
from compose.repair.layer import fill_from_surroundings, layered_repaint, sheet_boxes
from compose.sources import parse_program
from compose.verification import verify
from compose.verification.detection import get_detector

INSIDE = parse_program("""\
seed 3
object square "a blue square" color blue size large
object star "a yellow star" color yellow
star inside square
""")

BEHIND = parse_program("""\
seed 5
object square "a red square" color red size large
object circle "a green circle" color green
circle behind square
""")


class Dropping(ProceduralBackbone):
    """The procedural backbone whose first render leaves ``drop`` out; later renders (the sprite
    sheets) are exact."""

    name = "dropping-procedural"

    def __init__(self, drop, **options):
        super().__init__(**options)
        self.drop, self.calls = drop, 0

    def render(self, layouts, *, seeds, steps=None, guidance=None):
        self.calls += 1
        if self.calls == 1:
            layouts = [lay.model_copy(update={"boxes": {k: b for k, b in lay.boxes.items() if k != self.drop},
                                              "objects": {k: o for k, o in lay.objects.items() if k != self.drop}})
                       for lay in layouts]
        return super().render(layouts, seeds=seeds, steps=steps, guidance=guidance)


def unchanged_outside(before, after, mask) -> bool:
    keep = np.asarray(mask.convert("L")) == 0
    return bool(keep.any() and (np.asarray(before)[keep] == np.asarray(after)[keep]).all())


def test_sheet_boxes_are_a_grid_of_sprites_each_with_its_aspect():
    one = sheet_boxes([(1.0, 1.0)])
    assert one == [(0.29, 0.29, 0.71, 0.71)]
    four = sheet_boxes([(1.0, 1.0)] * 4)
    assert len(four) == 4 and all(b[2] - b[0] == pytest.approx(0.36) for b in four)
    # no two sprites meet, all inside the sheet
    for i, a in enumerate(four):
        assert 0 <= a[0] < a[2] <= 1 and 0 <= a[1] < a[3] <= 1
        for b in four[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    wide = sheet_boxes([(3.0, 1.0)])[0]
    assert (wide[2] - wide[0]) / (wide[3] - wide[1]) == pytest.approx(1.6, abs=0.01)  # aspect clamped


def test_fill_takes_the_color_around_and_leaves_the_rest_byte_identical():
    pixels = np.zeros((20, 20, 3), np.uint8)
    pixels[:] = (200, 220, 210)
    pixels[4:16, 4:16] = (0, 0, 255)  # a container
    pixels[8:12, 8:12] = (255, 0, 0)  # a blob in it, to erase
    erase = np.zeros((20, 20), bool)
    erase[7:13, 7:13] = True
    out = fill_from_surroundings(pixels, erase)
    assert (out[~erase] == pixels[~erase]).all()
    assert (np.abs(out[erase].astype(int) - (0, 0, 255)).max(axis=1) <= 2).all()


def test_a_missing_child_is_drawn_alone_and_composited_inside_its_container(tmp_path):
    model = Dropping("star#0", size=64)
    result = generate(INSIDE, backbone=model, max_rounds=2, out_dir=tmp_path)
    first, fixed = result.rounds[0], result.rounds[1]
    assert not first.report.passed and result.passed and result.best == 1
    assert fixed.strategy["strategy"] == "layer" and fixed.strategy["drawn"] == ["star#0"]
    assert fixed.cost.renders == 1.0  # one sprite sheet
    assert unchanged_outside(first.image, fixed.image, fixed.mask)
    assert "drawn alone and composited: star#0" in (tmp_path / "report.html").read_text()


def test_what_is_in_front_stays_in_front():
    lay = place(BEHIND, seed=5)
    model = ProceduralBackbone(size=64)
    full = model.render([lay], seeds=[0]).images[0]
    broken = Dropping("circle#0", size=64).render([lay], seeds=[0]).images[0]
    report = verify(BEHIND, broken, layout=lay, detector="world")
    assert not report.passed
    out, mask, info = layered_repaint(model, broken, lay, ["circle#0"], report, native=(64, 64), seed=1,
                                      detector=get_detector("world"))
    assert info["drawn"] == ["circle#0"] and info["sheets"] == 1
    # the square (in front) keeps every one of its pixels; the circle shows around it
    square = np.asarray(report.detections[report.binding["square#0"]].mask, bool)
    assert (np.asarray(out)[square] == np.asarray(broken)[square]).all()
    assert unchanged_outside(broken, out, mask)
    fixed = verify(BEHIND, out, layout=lay, detector="world")
    assert fixed.passed, [c.reason for c in fixed.failed]
    assert np.asarray(full).shape == np.asarray(out).shape


def test_an_extra_object_is_erased_at_no_render_cost():
    scene = parse_program('seed 1\nobject circle "a green circle" color green\n')
    lay = place(scene, seed=1)
    model = ProceduralBackbone(size=64)
    extra = lay.model_copy(update={
        "boxes": {**lay.boxes, "x#0": (0.05, 0.05, 0.3, 0.3) if lay.boxes["circle#0"][0] > 0.4 else (0.7, 0.7, 0.95, 0.95)},
        "objects": {**lay.objects, "x#0": lay.objects["circle#0"]}})
    image = model.render([extra], seeds=[0]).images[0]
    report = verify(scene, image, layout=lay, detector="world")
    assert not report.passed  # two circles
    out, mask, info = layered_repaint(model, image, lay, [], report, native=(64, 64), seed=1,
                                      detector=get_detector("world"), clear=[extra.boxes["x#0"]])
    assert info["sheets"] == 0 and info["drawn"] == []
    assert verify(scene, out, layout=lay, detector="world").passed
    assert unchanged_outside(image, out, mask)
