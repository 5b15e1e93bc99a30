"""Hypothesis strategies for scenes, shared by the scene, language and solver tests."""

from __future__ import annotations

from hypothesis import strategies as st

from compose.relations import RELATIONS
from compose.scene import (
    CountRange,
    Forbidden,
    ObjectGroup,
    Ref,
    RelationStatement,
    Requirement,
    Scene,
)
from compose.vocabulary import COLORS, SIZES

NAMES = ["cat", "dog", "mug", "kettle", "teddy_bear", "car", "bus", "tree", "circle", "square", "ça"]
PHRASE = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


@st.composite
def groups(draw, name):
    count = draw(st.one_of(st.integers(1, 4), st.builds(lambda a, b: CountRange(min=a, max=a + b),
                                                         st.integers(0, 2), st.integers(1, 3))))
    at = None
    if count == 1 and draw(st.booleans()):
        x0, y0 = draw(st.floats(0, 0.5)), draw(st.floats(0, 0.5))
        at = (round(x0, 3), round(y0, 3), round(x0 + draw(st.floats(0.05, 0.5)), 3),
              round(y0 + draw(st.floats(0.05, 0.5)), 3))
    return ObjectGroup(
        name=name, phrase=draw(PHRASE),
        class_name=draw(st.sampled_from(["", "teddy bear", "wine glass", name.replace("_", " ")])),
        count=count, color=draw(st.none() | st.sampled_from(sorted(COLORS))),
        size=draw(st.none() | st.sampled_from(sorted(SIZES)) | st.floats(0.05, 1.0).map(lambda v: round(v, 3))),
        at=at, aspect=draw(st.none() | st.floats(0.1, 10).map(lambda v: round(v, 2))),
        attributes=draw(st.dictionaries(st.sampled_from(["material", "pose", "legs", "lit", "h"]),
                                        st.one_of(st.booleans(), st.integers(-5, 50),
                                                  st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 2)),
                                                  PHRASE), max_size=3)))


@st.composite
def scenes(draw, max_groups=4):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=max_groups, unique=True))
    objects = [draw(groups(n)) for n in names]
    statements = []
    if len(names) >= 2:
        for _ in range(draw(st.integers(0, 4))):
            a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
            predicate = draw(st.sampled_from([p for p in RELATIONS if p != "between"]))
            statements.append(RelationStatement(subject=Ref(group=a), predicate=predicate, objects=[Ref(group=b)],
                                                hard=draw(st.booleans()),
                                                weight=draw(st.sampled_from([1.0, 2.0, 0.5]))))
        if len(names) >= 3 and draw(st.booleans()):
            a, b, c = names[:3]
            statements.append(RelationStatement(subject=Ref(group=a), predicate="between",
                                                objects=[Ref(group=b), Ref(group=c)]))
        indexed = [g for g in objects if isinstance(g.count, int) and g.count >= 2]
        if indexed:
            g = indexed[0]
            statements.append(RelationStatement(subject=Ref(group=g.name, index=0), predicate="left_of",
                                                objects=[Ref(group=g.name, index=1)]))
    return Scene(
        canvas=draw(st.sampled_from([(512, 512), (768, 512), (64, 64)])),
        background=draw(st.none() | PHRASE), style=draw(st.none() | PHRASE),
        negative=draw(st.none() | PHRASE), seed=draw(st.none() | st.integers(0, 2**31)),
        objects=objects, statements=statements,
        forbidden=[Forbidden(name=n) for n in draw(st.lists(st.sampled_from(["dog", "a red pen", "cell phone"]),
                                                            max_size=2, unique=True))],
        requirements=[Requirement(target=names[0], op=draw(st.sampled_from(["==", ">=", "<"])),
                                  value=draw(st.integers(0, 5)))] if draw(st.booleans()) else [],
    )
