"""The layout solver: problem model, CP-SAT backend, explanations, scene placement, CLI."""

from __future__ import annotations

import json

import pytest
from compose.solvers import Problem, get_backend, solve
from compose.solvers.cpsat import clique_cover
from compose.solvers.greedy import shelf_pack

from compose.errors import InfeasibleLayoutError, LayoutError, UsageError
from compose.layouts import Layout
from compose.placement import place
from compose.relations import RELATIONS
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene, Span


def rel(a: str, predicate: str, *objects: str, hard: bool = True, line: int | None = None) -> RelationStatement:
    span = Span(file="t.scene", line=line, column=1) if line is not None else None
    return RelationStatement(subject=Ref(group=a), predicate=predicate,
                             objects=[Ref(group=o) for o in objects], hard=hard, span=span)


def obj(name: str, **options) -> ObjectGroup:
    return ObjectGroup(name=name, phrase=f"a {name}", **options)


# --- problem model and backend ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["cp-sat", "cp-sat-exact"])
def test_larger_than_allows_area_ratios_between_the_staircase_steps(backend):
    # A box of at most 123 x 123 beside a fixed 100 x 100 one: only 122-123 wide and 122-123 high
    # gives 1.5 times the area, which no step of the linear staircase (sides 1.16 and 1.30, or
    # 1.33 and 1.13) allows. The scene is possible, so it must lay out, and pass the predicate.
    from compose.relations import RELAXED

    p = Problem(1000, 1000)
    big = p.add_box("big", min_size=(100, 100), max_size=(123, 123))
    small = p.add_box("small", fixed=(0, 0, 100, 100))
    (ratio,) = RELATIONS["larger_than"].encode(p, big, [small], RELAXED)
    assert not any(all(lin.holds({"big": (200, 200, 323, 323), "small": (0, 0, 100, 100)}) for lin in branch)
                   for branch in ratio.branches)
    p.require(ratio, tag="big larger than small")
    p.no_overlap(["big", "small"])
    boxes = solve(p, seed=0, time_limit=10, backend=backend).boxes
    x0, y0, x1, y1 = boxes["big"]
    assert (x1 - x0) * (y1 - y0) >= 1.5 * 100 * 100
    assert RELATIONS["larger_than"].check(boxes["big"], [boxes["small"]]).passed


def test_solution_meets_constraints_and_soft_targets_pull():
    p = Problem(200, 100)
    a, b = p.add_box("a", min_size=(20, 20), tag="A"), p.add_box("b", min_size=(20, 20), tag="B")
    p.require(a.y1 + 10 <= b.y0, tag="a above b")
    p.no_overlap(["a", "b"])
    p.target(a.cx2, 2 * 150, 1)
    s = solve(p, seed=0)
    assert p.violations(s.boxes) == []
    assert s.boxes["a"][3] + 10 <= s.boxes["b"][1]
    assert abs((s.boxes["a"][0] + s.boxes["a"][2]) - 300) <= 2  # pulled to its target


def test_unknown_backend_is_e303():
    with pytest.raises(LayoutError) as info:
        get_backend("simulated-annealing")
    assert info.value.code == "E303" and "cp-sat" in str(info.value)


def test_cycle_is_explained_by_exactly_the_cycle():
    p = Problem(100, 100)
    names = ["a", "b", "c", "d"]
    refs = {n: p.add_box(n, min_size=(10, 10), tag=f"decl {n}") for n in names}
    p.require(refs["a"].x1 <= refs["b"].x0, tag="a<b")
    p.require(refs["b"].x1 <= refs["c"].x0, tag="b<c")
    p.require(refs["c"].x1 <= refs["a"].x0, tag="c<a")
    p.require(refs["d"].y1 <= refs["a"].y0, tag="d^a")
    p.no_overlap(names)
    with pytest.raises(InfeasibleLayoutError) as info:
        solve(p)
    assert info.value.code == "E301" and info.value.exit_code == 4
    assert sorted(info.value.conflicts) == ["a<b", "b<c", "c<a"]


def test_overfull_canvas_names_the_declarations():
    p = Problem(100, 100)
    for i in range(3):  # any two of these cannot share the canvas
        p.add_box(f"b{i}", min_size=(60, 60), tag=f"decl {i}")
    p.add_box("free", min_size=(5, 5), tag="small one")
    p.no_overlap([f"b{i}" for i in range(3)] + ["free"])
    with pytest.raises(InfeasibleLayoutError) as info:
        solve(p)
    assert len(info.value.conflicts) == 2 and "small one" not in info.value.conflicts


def test_clique_cover_covers_every_forbidden_pair():
    names = [f"n{i}" for i in range(7)]
    allowed = {frozenset(("n0", "n1")), frozenset(("n2", "n3")), frozenset(("n0", "n3"))}
    cliques = clique_cover(names, allowed)
    for clique in cliques:
        for i, a in enumerate(clique):
            for b in clique[i + 1:]:
                assert frozenset((a, b)) not in allowed
    covered = {frozenset((a, b)) for c in cliques for a in c for b in c if a != b}
    every = {frozenset((a, b)) for a in names for b in names if a != b}
    assert covered == every - allowed


def test_shelf_pack_stays_on_the_canvas_at_least_minimum_size():
    p = Problem(100, 50)
    for i in range(12):
        p.add_box(f"b{i}", min_size=(10, 8))
    boxes = shelf_pack(p, {f"b{i}": (30, 30) for i in range(12)})
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 50 and x1 - x0 >= 10 and y1 - y0 >= 8


# --- scenes ----------------------------------------------------------------------------------

def test_layout_api_records_seed_and_objects():
    from compose.api import layout

    scene = Scene(objects=[obj("cat", color="red"), obj("mat")], statements=[rel("cat", "on", "mat")],
                  background="a garden", seed=5)
    lay = layout(scene)
    assert isinstance(lay, Layout) and lay.seed == 5
    assert lay.objects["cat#0"].z > lay.objects["mat#0"].z
    assert lay.objects["cat#0"].attributes["color"] == "red" and lay.background == "a garden"
    assert RELATIONS["on"].check(lay.boxes["cat#0"], [lay.boxes["mat#0"]]).passed


def test_same_seed_same_layout_different_seed_different_arrangement():
    scene = Scene(objects=[obj("a"), obj("b"), obj("c"), obj("d")],
                  statements=[rel("a", "left_of", "b"), rel("c", "above", "d")])
    first, again = place(scene, seed=11), place(scene, seed=11)
    assert first.boxes == again.boxes
    others = [place(scene, seed=s) for s in (12, 13, 14)]
    assert all(o.boxes != first.boxes for o in others)
    # not one solution shifted: the arrangement of centres changes
    order = lambda lay: tuple(sorted(lay.boxes, key=lambda i: lay.boxes[i][0]))
    assert len({order(lay) for lay in [first, *others]}) > 1


def test_class_priors_shape_the_boxes():
    scene = Scene(canvas=(512, 512), objects=[obj("car"), obj("giraffe"), obj("circle")])
    lay = place(scene, seed=0)
    ratio = {i: (b[2] - b[0]) / (b[3] - b[1]) for i, b in lay.boxes.items()}
    assert ratio["car#0"] > 1.2 and ratio["giraffe#0"] < 0.85 and 0.7 < ratio["circle#0"] < 1.4


def test_size_option_orders_sizes():
    scene = Scene(objects=[obj("a", size="small"), obj("b", size="huge")])
    lay = place(scene, seed=0)
    area = {i: (b[2] - b[0]) * (b[3] - b[1]) for i, b in lay.boxes.items()}
    assert area["b#0"] > 4 * area["a#0"]


def test_fixed_boxes_hold_and_the_rest_is_placed():
    scene = Scene(objects=[obj("a", at=(0.1, 0.1, 0.3, 0.3)), obj("b"), obj("c")],
                  statements=[rel("b", "right_of", "a")])
    lay = place(scene, seed=3, fixed={"c#0": (0.6, 0.6, 0.9, 0.9)})
    assert lay.boxes["a#0"] == pytest.approx((0.1, 0.1, 0.3, 0.3))
    assert lay.boxes["c#0"] == pytest.approx((0.6, 0.6, 0.9, 0.9))
    assert RELATIONS["right_of"].check(lay.boxes["b#0"], [lay.boxes["a#0"]]).passed
    with pytest.raises(UsageError):
        place(scene, fixed={"zebra#0": (0.1, 0.1, 0.2, 0.2)})


def test_ranged_counts_come_from_the_seed():
    scene = Scene(objects=[obj("dot", count={"min": 1, "max": 6}, size="tiny")])
    counts = {place(scene, seed=s).counts["dot"] for s in range(6)}
    assert len(counts) > 1
    lay = place(scene, seed=4)
    assert len(lay.boxes) == lay.counts["dot"] == scene.resolve_counts(4)["dot"]


def test_prefer_is_soft():
    scene = Scene(objects=[obj("a"), obj("b")],
                  statements=[rel("a", "left_of", "b"), rel("b", "left_of", "a", hard=False)])
    lay = place(scene, seed=0)  # the preference cannot hold, and is not an error
    assert RELATIONS["left_of"].check(lay.boxes["a#0"], [lay.boxes["b#0"]]).passed
    scene = Scene(objects=[obj("a"), obj("b")], statements=[rel("a", "above", "b", hard=False)])
    lay = place(scene, seed=0)
    assert RELATIONS["above"].check(lay.boxes["a#0"], [lay.boxes["b#0"]]).passed


def test_impossible_scenes_cite_their_statements():
    # a cycle of left-of
    scene = Scene(objects=[obj("a"), obj("b"), obj("c")],
                  statements=[rel("a", "left_of", "b", line=4), rel("b", "left_of", "c", line=5),
                              rel("c", "left_of", "a", line=6), rel("a", "above", "c", line=7)])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene)
    assert [c.span.line for c in info.value.conflicts] == [4, 5, 6]
    assert "t.scene:4:1: a left of b" in str(info.value)
    # inside something that must be smaller
    scene = Scene(objects=[obj("ball"), obj("box")],
                  statements=[rel("ball", "inside", "box", line=3), rel("box", "smaller_than", "ball", line=4)])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene)
    assert [c.span.line for c in info.value.conflicts] == [3, 4]
    # forty large objects on a small canvas
    scene = Scene(canvas=(64, 64), objects=[obj("crate", count=40, size="large", span=Span(line=2, column=1)),
                                            obj("cat")])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene)
    assert [c.text for c in info.value.conflicts] == ['object crate "a crate" count 40 size large']
    # a fixed box that contradicts a relation
    scene = Scene(objects=[obj("sun", at=(0.1, 0.6, 0.3, 0.8), span=Span(line=1, column=1)),
                           obj("tree", at=(0.5, 0.2, 0.7, 0.5), span=Span(line=2, column=1)), obj("dog")],
                  statements=[rel("sun", "above", "tree", line=3), rel("dog", "below", "tree", line=4)])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene)
    assert [c.span.line for c in info.value.conflicts] == [1, 2, 3]


def test_time_limit_passing_is_e302():
    from compose.placement.planted import planted_scene

    scene, _ = planted_scene(150, seed=2)
    with pytest.raises(LayoutError) as info:
        place(scene, time_limit=0.05)
    assert info.value.code == "E302" and "150 objects" in str(info.value)


def test_a_backend_without_quick_starts_places_through_the_searches(monkeypatch):
    """``place`` tries linear starts alone only where the backend says it can; any other
    registered backend goes straight to its searches, and gets a valid layout the same way."""
    from compose.solvers import BACKENDS
    from compose.solvers.cpsat import CpSatBackend

    from compose.placement.planted import planted_scene

    class Plain:
        name = "plain"

        def __init__(self):
            self.calls = []
            self.inner = CpSatBackend()

        def solve(self, problem, *, seed=0, time_limit=10.0, explain=True):
            self.calls.append(len(problem.boxes))
            return self.inner.solve(problem, seed=seed, time_limit=time_limit, explain=explain)

        def explain(self, problem, *, time_limit=30.0):
            return self.inner.explain(problem, time_limit=time_limit)

    made = []
    monkeypatch.setitem(BACKENDS, "plain", lambda: made.append(Plain()) or made[-1])
    scene, _ = planted_scene(8, seed=3)
    lay = place(scene, seed=0, backend="plain")
    assert made and made[0].calls and set(lay.boxes) == set(place(scene, seed=0).boxes)


# --- CLI -------------------------------------------------------------------------------------

def test_cli_layout_json_png_and_infeasible(tmp_path, capsys):
    from compose.cli.main import main

    good = tmp_path / "good.scene"
    good.write_text('object cat "a cat"\nobject dog "a dog"\ncat left of dog\n', encoding="utf-8")
    png = tmp_path / "preview.png"
    assert main(["layout", str(good), "--json", "--seed", "3", "--png", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["canvas"] == [512, 512] and set(data["boxes"]) == {"cat#0", "dog#0"} and data["seed"] == 3
    assert data["boxes"]["cat#0"][2] < data["boxes"]["dog#0"][0]
    from PIL import Image

    assert Image.open(png).size == (512, 512)
    bad = tmp_path / "bad.scene"
    bad.write_text('object cat "a cat"\nobject dog "a dog"\ncat left of dog\ndog left of cat\n',
                   encoding="utf-8")
    assert main(["layout", str(bad)]) == 4
    err = capsys.readouterr().err
    assert "E301" in err and "bad.scene:3:1" in err and "bad.scene:4:1" in err and "dog left of cat" in err
    assert main(["layout", str(good), "--time-limit", "0"]) == 2


def test_cli_impossible_prompt_cites_the_prompt_words(capsys):
    from compose.cli.main import main

    code = main(["layout", "--prompt", "a cat to the left of a dog, and the dog to the left of the cat"])
    err = capsys.readouterr().err
    assert code == 4 and "E301" in err
    assert "prompt words 'a cat to the left of a dog'" in err and "dog left of cat" in err


def test_empty_scenes_and_wide_canvases():
    assert place(Scene()).boxes == {}
    lay = place(Scene(canvas=(1024, 256), objects=[obj("bus", count=3)]), seed=1)
    for x0, y0, x1, y1 in lay.boxes.values():
        assert (x1 - x0) * 1024 > 1.5 * (y1 - y0) * 256  # a bus is wide in pixels, not in 0..1 units


def test_overfull_canvas_of_one_line_declarations_names_a_minimal_set():
    """40 large objects, one line each: at their smallest (0.21 a side) 16 fit in a 4 x 4 grid,
    so 17 cannot, and no fewer prove it (the lattice count, each deletion checked)."""
    scene = Scene(objects=[obj(f"c{i}", size="large") for i in range(40)])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene, time_limit=10)
    named = info.value.conflicts
    assert len(named) == 17 and all(c.kind == "object" for c in named)


def test_long_left_of_cycle_names_only_its_relations():
    """A ring of 100 tiny objects each left of the next: the linear conflict is found by linear
    programs and shrunk to relations alone (a long enough chain of them is already too wide)."""
    n = 100
    scene = Scene(objects=[obj(f"r{i}", size="tiny") for i in range(n)],
                  statements=[RelationStatement(subject=Ref(group=f"r{i}"), predicate="left_of",
                                                objects=[Ref(group=f"r{(i + 1) % n}")]) for i in range(n)])
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene, time_limit=10)
    named = info.value.conflicts
    assert named and all(c.kind == "relation" for c in named)
