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

from compose.api import layout as solve_layout
from compose.api import parse_program
from compose.backbones import register_backbone
from compose.backbones.procedural import ProceduralBackbone
from compose.cli.main import main
from compose.loop import best_of_n, generate
from compose.layouts import Layout
from compose.repaint import plan_repaint, region_mask

EXAMPLES = Path(__file__).parents[1] / "examples"

SCENE = parse_program("""\
seed 4
object circle "a red circle" count 2 color red
object square "a blue square" color blue
object star "a yellow star" color yellow
circle left of square
star above square
""")


class FaultyProcedural(ProceduralBackbone):
    """Procedural rendering with one planted fault in the first render only."""

    name = "faulty-procedural"
    fault: tuple = ("drop", "circle#1")

    def render(self, layouts, *, seeds, steps=None, guidance=None):
        kind, instance = self.fault
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
                boxes[instance] = (1 - x1, 1 - y1, 1 - x0, 1 - y0)  # mirrored through the centre
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
                          str(tmp_path / "k"), "--backbone", "procedural"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 5 and "E402" in out.stderr and "Traceback" not in out.stderr


def test_public_api_names_stay_functions():
    import compose

    scene = parse_program('object circle "a red circle" color red\n')
    for _ in range(2):  # importing the modules behind them must not shadow the functions
        assert compose.generate(scene, backbone="procedural", max_rounds=0).passed
        assert compose.layout(scene, seed=0).boxes
    assert callable(compose.generate) and callable(compose.layout)
