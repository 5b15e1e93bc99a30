"""The verify-and-repaint loop, end to end on CPU backbones.

``FaultyProcedural`` is the real procedural backbone whose *first* render is wrong in a planted way
(an object left out, a wrong color, an object drawn in the wrong place); its repaints are the real
procedural repaint. The loop must find the fault, plan the right region and fix it.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.scenes import SHAPES_SCENE
from helpers.tiny_diffusers import tiny_sd  # noqa: F401  (fixture)

from compose.api import layout as solve_layout
from compose.api import parse_program
from compose.backbones import register_backbone
from compose.backbones.procedural import ProceduralBackbone
from compose.cli.main import main
from compose.layouts import Layout
from compose.loop import best_of_n, generate
from compose.repaint import plan_repaint, region_mask

EXAMPLES = Path(__file__).parents[1] / "examples"

SCENE = SHAPES_SCENE


class FaultyProcedural(ProceduralBackbone):
    """Procedural rendering with one planted fault in the first render only."""

    name = "faulty-procedural"
    fault: tuple = ("drop", "circle#1")
    first_only = True

    def render(self, layouts, *, seeds, steps=None, guidance=None):
        kind, instance = self.fault
        if getattr(self, "_rendered", False) and self.first_only:  # e.g. a layered repair's sprites
            return super().render(layouts, seeds=seeds, steps=steps, guidance=guidance)
        self._rendered = True
        broken = []
        for lay in layouts:
            boxes, objects = dict(lay.boxes), dict(lay.objects)
            if kind == "drop":
                del boxes[instance], objects[instance]
            elif kind == "recolor":
                region = objects[instance]
                objects[instance] = region.model_copy(update={"attributes": {**region.attributes, "color": "green"}})
            elif kind == "misplace":
                x0, y0, x1, y1 = boxes[instance]
                # flipped top to bottom: breaks `above` and stays in its column, so the region to
                # repaint (where it was drawn and where it belongs) leaves the rest of the image
                boxes[instance] = (x0, 1 - y1, x1, 1 - y0)
            broken.append(lay.model_copy(update={"boxes": boxes, "objects": objects}))
        return super().render(broken, seeds=seeds, steps=steps, guidance=guidance)


register_backbone("faulty-procedural", f"{__name__}:FaultyProcedural")


@pytest.fixture
def fault():
    def plant(kind, instance):
        FaultyProcedural.fault = (kind, instance)
    yield plant
    FaultyProcedural.fault = ("drop", "circle#1")


def test_procedural_passes_at_once_and_writes_every_output(tmp_path):
    result = generate(SCENE, backbone="procedural", out_dir=tmp_path)
    assert result.passed and len(result.rounds) == 1 and result.seed == 4
    names = {p.name for p in tmp_path.iterdir()}
    assert {"image.png", "round-0.png", "scene.scene", "layout.json", "report.json", "report.html", "run.json"} <= names
    assert parse_program((tmp_path / "scene.scene").read_text()) == SCENE
    assert Layout.from_json((tmp_path / "layout.json").read_text()).boxes == solve_layout(SCENE, seed=4).boxes
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True and all({"kind", "passed", "score", "reason"} <= set(c) for c in report["checks"])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["seed"] == 4 and run["versions"]["compose"] and "layout" in run["timings"]


@pytest.mark.parametrize("kind, instance, region_reason", [
    ("drop", "circle#1", "missing"),
    ("recolor", "square#0", "color"),
    ("misplace", "star#0", "relation"),
])
def test_the_loop_finds_and_repairs_a_planted_fault(fault, kind, instance, region_reason):
    fault(kind, instance)
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=3)
    first = result.rounds[0]
    assert not first.report.passed
    assert result.passed and result.best == 1, [c.reason for c in result.report.failed]
    plan = result.rounds[1].plan
    assert any(r.reason.startswith(region_reason) and r.instance == instance for r in plan.regions)
    # pixels outside the repaint mask are exactly the first render's
    mask = np.asarray(region_mask([r.box for r in plan.regions], first.image.size)) == 0
    before, after = np.asarray(first.image), np.asarray(result.image)
    assert mask.any() and (before[mask] == after[mask]).all()


def test_relation_repair_moves_the_subject_and_holds_the_rest(fault):
    fault("misplace", "star#0")
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=1)
    plan = result.rounds[1].plan
    assert set(plan.moved) == {"star#0"}
    for instance, box in result.rounds[0].layout.boxes.items():
        if instance != "star#0":
            assert plan.layout.boxes[instance] == box


def test_no_rounds_means_no_repaint(fault):
    fault("drop", "circle#1")
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=0)
    assert not result.passed and len(result.rounds) == 1


def test_a_time_limit_stops_repair_and_keeps_the_best_so_far(tmp_path, fault, capsys):
    fault("drop", "circle#1")
    assert generate(SCENE, backbone="faulty-procedural", max_rounds=3).passed  # repairable in time
    fault("drop", "circle#1")
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=3, time_limit=1e-6, out_dir=tmp_path / "t")
    assert not result.passed and len(result.rounds) == 1 and result.stopped == "time limit"
    assert json.loads((tmp_path / "t" / "run.json").read_text())["stopped"] == "time limit"
    assert (tmp_path / "t" / "image.png").exists()
    assert main(["generate", str(EXAMPLES / "shapes.scene"), "-o", str(tmp_path / "bad"), "--backbone",
                 "procedural", "--time-limit", "0"]) == 2
    assert "E006" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_the_best_round_is_kept(fault):
    fault("drop", "circle#0")
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=3)
    scores = [r.score for r in result.rounds]
    assert result.rounds[result.best].score == max(scores)


def test_plan_is_none_when_everything_passes():
    result = generate(SCENE, backbone="procedural", max_rounds=0)
    assert plan_repaint(SCENE, result.layout, result.report, seed=1) is None


def test_region_mask_is_dilated_and_feathered_outwards():
    mask = np.asarray(region_mask([(0.25, 0.25, 0.5, 0.5)], (100, 100), dilate=0.05, feather=0.03))
    assert (mask[25:50, 25:50] == 255).all()          # every box pixel fully repainted
    assert mask[22, 37] == 255 and 0 < mask[17, 37] < 255  # dilated, then a soft edge
    assert mask[0, 0] == 0 and mask[90, 90] == 0


def test_best_of_n_stops_at_the_first_pass():
    result = best_of_n(SCENE, n=4, backbone="procedural")
    assert result.passed and len(result.rounds) == 1


def test_cli_exit_codes(tmp_path, fault, capsys):
    program = tmp_path / "s.scene"
    program.write_text('object circle "a red circle" color red\nobject square "a blue square" color blue\n'
                       'circle left of square\n')
    assert main(["generate", str(program), "-o", str(tmp_path / "ok"), "--backbone", "procedural"]) == 0
    fault("drop", "circle#0")
    assert main(["generate", str(program), "-o", str(tmp_path / "bad"), "--backbone", "faulty-procedural",
                 "--max-rounds", "0"]) == 6
    assert "FAIL" in capsys.readouterr().out
    assert (tmp_path / "bad" / "image.png").exists()


def test_cli_out_of_vocabulary_is_exit_5(tmp_path):
    out = subprocess.run([sys.executable, "-m", "compose", "generate", str(EXAMPLES / "kitchen.scene"), "-o",
                          str(tmp_path / "k"), "--backbone", "procedural"], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 5 and "E402" in out.stderr and "Traceback" not in out.stderr


def test_public_api_names_stay_functions():
    import compose

    scene = parse_program('object circle "a red circle" color red\n')
    for _ in range(2):  # importing the modules behind them must not shadow the functions
        assert compose.generate(scene, backbone="procedural", max_rounds=0).passed
        assert compose.layout(scene, seed=0).boxes
    assert callable(compose.generate) and callable(compose.layout)


# ---- repair strategies, each on a planted fault of its kind ---------------------------------
from compose.repair import crop_windows, sub_layout, zoomed_repaint
from compose.repair.compute import render_cost

SMALL = parse_program("""\
seed 2
object circle "red circles" color red count 6 size tiny
object square "blue squares" color blue count 5 size tiny
""")


class StubbornProcedural(FaultyProcedural):
    """A planted fault that survives some repairs: ``instance`` is left out of every render and of
    every repaint that is not stronger than its ``need``: ``"steps"`` (more steps than the default),
    ``"moved"`` (a box other than the first layout's), ``"seed"`` (any render whose seed is not
    the first one)."""

    name = "stubborn-procedural"
    default_steps = 10
    need: str = "steps"
    first_box: tuple | None = None
    first_seed: int | None = None

    def _strip(self, layouts, instance):
        return [lay.model_copy(update={"boxes": {k: b for k, b in lay.boxes.items() if k != instance},
                                       "objects": {k: o for k, o in lay.objects.items() if k != instance}})
                for lay in layouts]

    def render(self, layouts, *, seeds, steps=None, guidance=None):
        instance = self.fault[1]
        if self.first_seed is None:
            self.first_seed, self.first_box = int(seeds[0]), layouts[0].boxes[instance]
        if self.need == "seed" and int(seeds[0]) != self.first_seed:
            return ProceduralBackbone.render(self, layouts, seeds=seeds)
        return ProceduralBackbone.render(self, self._strip(layouts, instance), seeds=seeds)

    def repaint(self, images, masks, layouts, *, seeds, steps=None, guidance=None, strength=1.0):
        instance = self.fault[1]
        fixed = {"steps": (steps or 0) > self.default_steps,
                 "moved": all(lay.boxes.get(instance) != self.first_box for lay in layouts),
                 "seed": False}[self.need]
        layouts = layouts if fixed else self._strip(layouts, instance)
        return ProceduralBackbone.repaint(self, images, masks, layouts, seeds=seeds)


def stubborn(need, instance="circle#1"):
    model = StubbornProcedural()
    model.need, model.fault = need, ("drop", instance)
    return model


def unchanged_outside(before, after, mask) -> bool:
    keep = np.asarray(mask.convert("L")) == 0
    return bool(keep.any() and (np.asarray(before)[keep] == np.asarray(after)[keep]).all())


def test_zoomed_repaint_draws_a_small_missing_object_at_twice_the_detail(fault):
    fault("drop", "circle#3")
    model = FaultyProcedural(size=64)
    result = generate(SMALL, backbone=model, max_rounds=2, layered=False)
    first, fixed = result.rounds[0], result.rounds[1]
    assert first.strategy["scale"] == 2 and first.image.size == (128, 128)  # tiny boxes: worked at 2x
    assert not first.report.passed and result.passed and result.best == 1
    assert fixed.strategy["strategy"] == "zoom"
    (window,) = fixed.strategy["windows"]
    assert window[2] - window[0] == pytest.approx(0.5)  # a 64-pixel crop of the 128-pixel image
    assert unchanged_outside(first.image, fixed.image, fixed.mask)
    assert fixed.cost.renders == 1.0


def test_zoomed_repaint_keeps_pixels_outside_the_mask_byte_identical():
    from PIL import Image

    lay = solve_layout(SMALL, seed=2)
    model = ProceduralBackbone(size=64)
    image = model.render([lay], seeds=[0]).images[0].resize((128, 128), Image.BICUBIC)
    box = lay.boxes["square#2"]
    mask = region_mask([box], image.size)
    out, info = zoomed_repaint(model, image, mask, lay, [box], native=(64, 64), seed=1)
    assert info["images"] == 1 and unchanged_outside(image, out, mask)
    assert not np.array_equal(np.asarray(image), np.asarray(out))  # the crop's object was redrawn sharp


def test_crop_windows_group_nearby_regions_and_sub_layouts_clip_to_the_window():
    boxes = [(0.1, 0.1, 0.2, 0.2), (0.15, 0.3, 0.25, 0.4), (0.8, 0.8, 0.9, 0.9)]
    assert crop_windows(boxes, side=0.5) == [(0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)]
    assert len(crop_windows(boxes, side=0.5, limit=1)) == 1
    assert crop_windows([(0.0, 0.0, 0.9, 0.9)], side=0.5) == [(0.0, 0.0, 1.0, 1.0)]  # a big region: whole image
    lay = solve_layout(SMALL, seed=2)
    sub = sub_layout(lay, (0.0, 0.0, 0.5, 0.5), (64, 64))
    assert sub.canvas == (64, 64) and sub.boxes
    assert all(0 <= v <= 1 for b in sub.boxes.values() for v in b)


def test_boosted_repaint_gives_more_steps_when_a_plain_repaint_fails():
    model = stubborn("steps")
    result = generate(SCENE, backbone=model, max_rounds=3, layered=False)
    names = [r.strategy["strategy"] for r in result.rounds]
    assert names[:3] == ["render", "zoom", "zoom+boost"] and result.passed and result.best == 2
    assert result.rounds[2].cost.renders == pytest.approx(1.2)  # 12 steps where a render takes 10
    assert unchanged_outside(result.rounds[0].image, result.rounds[2].image, result.rounds[2].mask)


def test_replacement_moves_an_instance_that_cannot_be_drawn_where_it_is():
    model = stubborn("moved")
    result = generate(SCENE, backbone=model, max_rounds=3, layered=False)
    names = [r.strategy["strategy"] for r in result.rounds]
    assert names == ["render", "zoom", "zoom+boost", "replace"] and result.passed and result.best == 3
    plan = result.rounds[3].plan
    assert set(plan.moved) == {"circle#1"}
    assert all(plan.layout.boxes[i] == b for i, b in result.rounds[0].layout.boxes.items() if i != "circle#1")
    assert unchanged_outside(result.rounds[0].image, result.rounds[3].image, result.rounds[3].mask)


def test_a_fresh_layout_is_the_last_resort():
    model = stubborn("seed")
    result = generate(SCENE, backbone=model, max_rounds=5, layered=False)
    names = [r.strategy["strategy"] for r in result.rounds]
    assert "fresh" in names and result.passed
    assert names.index("fresh") >= 3  # repair was tried first
    assert result.rounds[result.best].strategy["strategy"] == "fresh"


def test_the_kept_image_is_never_worse_than_the_first(fault):
    model = stubborn("seed")
    result = generate(SCENE, backbone=model, max_rounds=2, layered=False)
    assert result.rounds[result.best].score >= result.rounds[0].score and result.best == 0


def test_compute_accounting_counts_guidance_passes():
    from compose.backbones.embedded import EmbeddedBackbone

    model = EmbeddedBackbone(steps=12, guidance=3.0)
    assert render_cost(model, 1, steps=None, guidance=None, seconds=0).nfe == 24
    assert render_cost(model, 2, steps=18, guidance=4.5, seconds=0).renders == 3.0
    assert render_cost(model, 1, steps=None, guidance=1.0, seconds=0).nfe == 12  # no guidance: one pass


def test_run_record_and_report_carry_strategies_costs_and_causes(tmp_path, fault):
    fault("drop", "circle#1")
    generate(SCENE, backbone="faulty-procedural", max_rounds=2, out_dir=tmp_path, source="my.scene", layered=False)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["rounds"][1]["strategy"]["strategy"] == "zoom" and run["cost"]["renders"] == 2.0
    assert all("cost" in r for r in run["rounds"])
    page = (tmp_path / "report.html").read_text()
    assert "<title>compose generate: my.scene</title>" in page
    assert page.count("<b>round ") == 2 and "round 1: zoom" in page


def test_failures_are_grouped_by_their_cause(fault):
    from compose.run_report import failure_groups

    fault("drop", "circle#1")
    result = generate(SCENE, backbone="faulty-procedural", max_rounds=0)
    groups = failure_groups(result.report)
    failing = [c for c in result.report.checks if c.hard and not c.passed]
    assert sum(1 + len(g["checks"]) for g in groups) - sum(1 for g in groups if g["cause"].endswith("not found")) \
        == len(failing)
    assert len(groups) < len(failing) or len(failing) <= 2


def test_cli_best_of_n(tmp_path, fault, capsys):
    fault("drop", "circle#1")
    assert main(["generate", "--prompt", "a red circle", "-o", str(tmp_path / "b"), "--backbone", "procedural",
                 "--best-of", "3"]) == 0
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["mode"] == "best-of-3" and len(run["rounds"]) == 1
    assert "renders' worth" in capsys.readouterr().out


def test_zoomed_repaint_runs_on_a_tiny_diffusers_backbone(tiny_sd):  # noqa: F811 (the fixture)
    from helpers.tiny_diffusers import two_region_layout
    from PIL import Image

    from compose.backbones import get_backbone

    model = get_backbone("sd-regional", model=str(tiny_sd), device="cpu", dtype="fp32", steps=2)  # the backbone's options, not the loop's
    lay = two_region_layout(64)
    image = Image.new("RGB", (64, 64), (90, 120, 150))
    box = lay.boxes["ball#0"]
    mask = region_mask([box], image.size)
    out, info = zoomed_repaint(model, image, mask, lay, [box], native=(32, 32), seed=0, side=0.75)
    assert info["images"] == 1 and out.size == (64, 64)
    assert unchanged_outside(image, out, mask)
    assert not np.array_equal(np.asarray(image), np.asarray(out))


# ---- the hard suite --------------------------------------------------------------------------
def test_the_hard_suite_in_the_repository_is_the_seeded_one(tmp_path):
    from compose.bench.hard import KINDS, build_hard_suite, load_suite, split, write_suite

    shipped = load_suite()
    assert len(shipped) >= 40 and {s["kind"] for s in shipped} == set(KINDS)
    write_suite(tmp_path)
    assert [s["program"] for s in load_suite(tmp_path)] == [s["program"] for s in shipped]
    assert len(split(shipped, "tune")) + len(split(shipped, "report")) == len(shipped)
    assert not {s["id"] for s in split(shipped, "tune")} & {s["id"] for s in split(shipped, "report")}
    counting = [parse_program(s["program"]) for s in build_hard_suite() if s["kind"] == "counting"]
    assert all(10 <= sum(g.count for g in scene.objects) <= 20 for scene in counting)


def test_hard_scenes_pass_when_drawn_exactly_at_twice_the_native_size():
    from compose.bench.hard import load_suite

    model = ProceduralBackbone(size=128)
    for item in load_suite()[::7]:
        assert generate(parse_program(item["program"]), backbone=model, max_rounds=0).passed, item["id"]


def test_accuracy_at_matched_compute():
    from compose.bench.hard import format_hard_table, passed_within, summarise_hard, svg_curves

    rows = [{"id": "counting-01", "kind": "counting",
             "loop": {"passed": True, "trace": [[1.0, 24, False], [2.0, 48, True]]},
             "best_of_n": {"passed": True, "trace": [[1.0, 24, False], [2.0, 48, False], [3.0, 72, True]]}}]
    assert passed_within(rows[0]["loop"]["trace"], 2) and not passed_within(rows[0]["best_of_n"]["trace"], 2)
    summary = summarise_hard(rows)
    assert summary["kinds"]["counting"]["loop"][:3] == [0.0, 1.0, 1.0]
    assert summary["kinds"]["all"]["best_of_n"][:3] == [0.0, 0.0, 1.0] and summary["nfe_per_render"] == 24
    assert "loop" in format_hard_table(summary, "t") and svg_curves(summary, "t").startswith("<svg")
