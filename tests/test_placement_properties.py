"""Properties of the layout solver (hypothesis, modest example counts)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compose.errors import InfeasibleLayoutError
from compose.placement import place
from compose.placement.planted import planted_scene
from compose.relations import RELATIONS
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene
from compose.solvers import Problem, solve

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@FEW
@given(name=st.sampled_from(sorted(RELATIONS)), seed=st.integers(0, 10_000),
       grid=st.sampled_from([(1000, 1000), (1000, 500), (600, 1000), (1000, 700)]))
def test_every_encoding_is_stronger_than_its_predicate(name, seed, grid):
    """Boxes pulled towards random targets, under one relation's encoding, pass its predicate."""
    spec = RELATIONS[name]
    rng = random.Random(seed)
    W, H = grid
    p = Problem(W, H)
    refs = [p.add_box(f"b{i}", min_size=(20, 20)) for i in range(spec.arity + 1)]
    p.require(spec.encode(p, refs[0], refs[1:]))
    for ref in refs:  # random soft targets, so that the solver explores the encoding's corners
        p.target(ref.cx2, rng.randrange(0, 2 * W), 1)
        p.target(ref.cy2, rng.randrange(0, 2 * H), 1)
        p.target(ref.w, rng.randrange(20, W // 2), 1)
        p.target(ref.h, rng.randrange(20, H // 2), 1)
    sol = solve(p, seed=seed)
    norm = {k: (x0 / W, y0 / H, x1 / W, y1 / H) for k, (x0, y0, x1, y1) in sol.boxes.items()}
    verdict = spec.check(norm["b0"], [norm[f"b{i}"] for i in range(1, spec.arity + 1)])
    assert verdict.passed, verdict.reason


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), layout_seed=st.integers(0, 100),
       backend=st.sampled_from(["cp-sat", "cp-sat-exact"]))
def test_planted_scenes_are_solved_and_every_layout_is_valid(n, seed, layout_seed, backend):
    """Relations read off random boxes are solvable; the layout passes every hard predicate,
    stays on the canvas and overlaps nothing it may not (from the linear start or CP-SAT)."""
    scene, _ = planted_scene(n, seed=seed)
    lay = place(scene, seed=layout_seed, backend=backend)
    for box in lay.boxes.values():
        assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
    allowed = {frozenset((r.subject, r.object_ids[0])) for r in scene.relations()
               if RELATIONS[r.predicate].allows_overlap}
    ids = list(lay.boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if frozenset((a, b)) not in allowed:
                assert not _overlap(lay.boxes[a], lay.boxes[b]), (a, b)
    for r in scene.relations():
        if r.hard:
            verdict = RELATIONS[r.predicate].check(lay.boxes[r.subject], [lay.boxes[o] for o in r.object_ids])
            assert verdict.passed, (r, verdict.reason)


_CYCLES = {  # (predicate of each step) -> a chain of it that closes on itself is impossible
    "left_of": "left_of", "above": "above", "larger_than": "larger_than", "right_of": "right_of",
}


@FEW
@given(kind=st.sampled_from(sorted(_CYCLES)), length=st.integers(2, 4), extra=st.integers(0, 3),
       seed=st.integers(0, 1000))
def test_contradictions_name_only_contradicting_statements(kind, length, extra, seed):
    """A closed chain plus unrelated satisfiable statements: E301 names a subset of the chain."""
    rng = random.Random(seed)
    names = [f"o{i}" for i in range(length + extra + 1)]
    objects = [ObjectGroup(name=n, phrase=f"an {n}", size="small") for n in names]
    chain = names[:length]
    statements = [RelationStatement(subject=Ref(group=chain[i]), predicate=kind,
                                    objects=[Ref(group=chain[(i + 1) % length])]) for i in range(length)]
    cycle = set(range(length))
    for j in range(extra):  # the others hang off the chain consistently
        other = names[length + j]
        statements.append(RelationStatement(subject=Ref(group=other), predicate=rng.choice(["near", "below"]),
                                            objects=[Ref(group=rng.choice(names[length:length + j] or [names[-1]]))]
                                            if j else [Ref(group=names[-1])]))
    order = list(range(len(statements)))
    rng.shuffle(order)
    statements = [statements[k] for k in order]
    cycle = {order.index(k) for k in cycle}
    scene = Scene(objects=objects, statements=statements)
    with pytest.raises(InfeasibleLayoutError) as info:
        place(scene)
    named = info.value.conflicts
    assert named, "an explanation names at least one statement"
    assert all(c.kind == "relation" and c.key in cycle for c in named), [c.text for c in named]
