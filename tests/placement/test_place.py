"""place(): what it leaves of the interpreter as it found it."""

from __future__ import annotations

import gc

from compose.placement import place
from compose.scene import ObjectGroup, Ref, RelationStatement, Scene


def test_a_layout_leaves_the_garbage_collector_as_it_found_it():
    scene = Scene(objects=[ObjectGroup(name="cup", phrase="a cup"), ObjectGroup(name="mug", phrase="a mug")],
                  statements=[RelationStatement(subject=Ref(group="cup"), predicate="left_of",
                                                objects=[Ref(group="mug")])])
    assert gc.isenabled()
    place(scene, seed=0)
    assert gc.isenabled()
    gc.disable()
    try:
        place(scene, seed=0)
        assert not gc.isenabled()
    finally:
        gc.enable()
