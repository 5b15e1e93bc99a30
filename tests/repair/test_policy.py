"""The escalation policy (compose.repair.policy) and what the loop does with it.

Unit checks of :func:`choose_step` on real plans, then the loop end to end on the real procedural
backbone with planted faults: a layered round that makes progress is followed by another, one
that does not by a fresh layout, and that fresh layout is best-of-N's next candidate. The costs
are checked in NFE: a sprite sheet is 8 of a render's 24.
"""

import numpy as np
import pytest
from helpers.scenes import SHAPES_SCENE

from compose.backbones.embedded import EmbeddedBackbone
from compose.backbones.procedural import ProceduralBackbone
from compose.loop import best_of_n, generate
from compose.placement import place
from compose.repaint import RepaintPlan, RepaintRegion
from compose.repair import choose_step, render_cost
from compose.repair.layer import sprite_settings
from compose.repair.policy import LAYER_TRIES, PATIENCE

SCENE = SHAPES_SCENE


def plan_for(*instances):
    lay = place(SCENE, seed=4)
    return RepaintPlan(regions=[RepaintRegion(lay.boxes[i], "not found", i) for i in instances], layout=lay)


def test_layered_chain_layers_first_again_only_after_progress_then_goes_fresh():
    plan = plan_for("circle#1")
    assert choose_step(plan, {}, 0, layered=True).name == "layer"
    # the first layered try made the best image better: one more
    assert choose_step(plan, {"circle#1": 1}, 0, layered=True).name == "layer"
    # it changed nothing: a fresh layout, not the same repair again
    assert choose_step(plan, {"circle#1": 1}, 1, layered=True).name == "fresh"
    # tried LAYER_TRIES times: fresh, even after progress
    assert choose_step(plan, {"circle#1": LAYER_TRIES}, 0, layered=True).name == "fresh"
    # a new failure of an image with history is layered (its own attempts are what count)
    assert choose_step(plan_for("star#0"), {"circle#1": LAYER_TRIES}, 1, layered=True).name == "layer"
    assert choose_step(None, {}, 0, layered=True).name == "fresh"
    assert choose_step(plan, {}, PATIENCE, layered=True).name == "fresh"
    # re-placement is not in the layered chain
    assert all(choose_step(plan, {"circle#1": n}, s, layered=True).name != "replace"
               for n in range(4) for s in range(3))


def test_zoomed_chain_is_unchanged():
    plan = plan_for("circle#1")
    assert [choose_step(plan, {"circle#1": n}, 0).name for n in range(3)] == ["zoom", "zoom+boost", "replace"]


def test_sprite_sheets_cost_a_third_of_a_render_counted_in_nfe():
    model = EmbeddedBackbone()
    steps, guidance = sprite_settings(model, None, None)
    assert (steps, guidance) == (4, None)
    sheet = render_cost(model, 1, steps=steps, guidance=guidance, seconds=0)
    full = render_cost(model, 1, steps=None, guidance=None, seconds=0)
    assert (sheet.nfe, full.nfe) == (8, 24)  # guidance passes counted: 4 x 2 and 12 x 2
    assert sheet.renders == pytest.approx(1 / 3)
    assert sprite_settings(model, 6, 5.0) == (4, 5.0)  # never under MIN_SPRITE_STEPS; guidance kept
    assert sprite_settings(ProceduralBackbone(), None, None) == (None, None)  # no network: as it is


class SheetFault(ProceduralBackbone):
    """The procedural backbone (with a 12-step, guided network's accounting) whose first render
    leaves ``drop`` out, and whose sprite sheets leave out ``on_sheets`` for the first
    ``sheet_failures`` sheets. Full renders at any other seed are exact."""

    name = "sheet-fault-procedural"
    default_steps = 12
    guidance = 3.0

    def __init__(self, drop, on_sheets, sheet_failures=99, **options):
        super().__init__(**options)
        self.drop, self.on_sheets, self.sheet_failures = set(drop), set(on_sheets), sheet_failures
        self.first_seed, self.sheets = None, 0

    def render(self, layouts, *, seeds, steps=None, guidance=None):
        if self.first_seed is None:
            self.first_seed = int(seeds[0])
        out = []
        for lay in layouts:
            sheet = len(lay.objects) < 4  # a sprite sheet holds only the instances it redraws
            if sheet:
                self.sheets += 1
            gone = (self.on_sheets if self.sheets <= self.sheet_failures else set()) if sheet else \
                (self.drop if int(seeds[0]) == self.first_seed else set())
            out.append(lay.model_copy(update={"boxes": {k: b for k, b in lay.boxes.items() if k not in gone},
                                              "objects": {k: o for k, o in lay.objects.items() if k not in gone}}))
        return super().render(out, seeds=seeds, steps=steps, guidance=guidance)


def test_a_layered_round_without_progress_is_followed_by_best_of_ns_next_candidate():
    model = SheetFault(drop={"circle#1"}, on_sheets={"circle#1"})
    result = generate(SCENE, backbone=model, max_rounds=4, layered=True)
    names = [r.strategy["strategy"] for r in result.rounds]
    assert names == ["render", "layer", "fresh"] and result.passed and result.best == 2
    assert result.rounds[1].strategy["missed"] == ["circle#1"]
    assert result.rounds[1].strategy["sprite_steps"] == 4
    assert [r.cost.nfe for r in result.rounds] == [24, 8, 24]
    assert result.cost.renders == pytest.approx(2 + 1 / 3)
    # the fresh layout is best-of-N's second candidate: same seed, same layout, same pixels
    baseline = best_of_n(SCENE, n=2, backbone=SheetFault(drop={"circle#1"}, on_sheets=set()))
    assert baseline.rounds[1].seed == result.rounds[2].seed == 4 + 1000
    assert baseline.rounds[1].layout.boxes == result.rounds[2].layout.boxes
    assert np.array_equal(np.asarray(baseline.rounds[1].image), np.asarray(result.rounds[2].image))


def test_a_layered_round_that_makes_progress_is_followed_by_another():
    # two instances missing; the first sheet misses one of them, the second sheet draws it
    model = SheetFault(drop={"circle#1", "star#0"}, on_sheets={"star#0"}, sheet_failures=1)
    result = generate(SCENE, backbone=model, max_rounds=4, layered=True)
    names = [r.strategy["strategy"] for r in result.rounds]
    assert names == ["render", "layer", "layer"] and result.passed and result.best == 2
    assert result.rounds[1].strategy["drawn"] == ["circle#1"] and result.rounds[2].strategy["drawn"] == ["star#0"]
    assert result.rounds[1].score > result.rounds[0].score
    assert result.cost.nfe == 24 + 8 + 8
