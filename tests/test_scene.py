import json

import networkx as nx
import pytest
from helpers.strategies import scenes
from hypothesis import given

from compose.errors import SceneError
from compose.scene import CountRange, ObjectGroup, Ref, RelationStatement, Scene, Span


def kitchen() -> Scene:
    return Scene(
        seed=3,
        objects=[ObjectGroup(name="mug", phrase="a red mug", count=2, color="red"),
                 ObjectGroup(name="kettle", phrase="a kettle", size="large"),
                 ObjectGroup(name="teddy_bear", phrase="a teddy", span=Span(file="k.scene", line=3, column=1))],
        statements=[RelationStatement(subject=Ref(group="mug"), predicate="left_of", objects=[Ref(group="kettle")]),
                    RelationStatement(subject=Ref(group="teddy_bear"), predicate="between",
                                      objects=[Ref(group="mug", index=0), Ref(group="kettle")], hard=False, weight=2)])


def test_instances_and_expanded_relations():
    scene = kitchen()
    assert [i.id for i in scene.instances()] == ["mug#0", "mug#1", "kettle#0", "teddy_bear#0"]
    assert scene.instances()[3].class_name == "teddy bear"
    assert scene.instances()[0].attributes == {"color": "red"}
    rels = scene.relations()
    assert [(r.subject, r.predicate, r.object) for r in rels] == [
        ("mug#0", "left_of", "kettle#0"), ("mug#1", "left_of", "kettle#0"),
        ("teddy_bear#0", "between", ["mug#0", "kettle#0"])]
    assert rels[2].hard is False and rels[2].weight == 2.0


def test_scene_json_has_the_documented_keys():
    data = json.loads(kitchen().to_json())
    assert data["objects"][0] == {"id": "mug#0", "group": "mug", "index": 0, "class": "mug",
                                  "phrase": "a red mug", "attributes": {"color": "red"}}
    assert data["relations"][0] == {"subject": "mug#0", "predicate": "left_of", "object": "kettle#0",
                                    "hard": True, "weight": 1.0, "statement": 0}
    assert data["relations"][2]["object"] == ["mug#0", "kettle#0"]
    assert data["forbid"] == [] and data["canvas"] == [512, 512] and data["seed"] == 3
    assert data["groups"][2]["span"] == {"file": "k.scene", "line": 3, "column": 1}


def test_json_round_trip_is_exact_including_spans():
    scene = kitchen()
    again = Scene.from_json(scene.to_json())
    assert again == scene
    assert again.to_json() == scene.to_json()
    assert again.objects[2].span == Span(file="k.scene", line=3, column=1)


@given(scenes())
def test_json_round_trip_property(scene):
    text = scene.to_json()
    again = Scene.from_json(text)
    assert again == scene and again.to_json() == text


@given(scenes())
def test_graph_view_round_trip(scene):
    graph = scene.to_graph()
    assert isinstance(graph, nx.MultiDiGraph)
    assert set(graph.nodes) == {i.id for i in scene.instances()}
    assert graph.number_of_edges() == sum(len(r.object_ids) for r in scene.relations())
    assert Scene.from_graph(graph).to_json() == scene.to_json()


def test_graph_edges_carry_predicates():
    g = kitchen().to_graph()
    assert g.has_edge("mug#1", "kettle#0", key="left_of")
    assert g.nodes["teddy_bear#0"]["class"] == "teddy bear"
    between = [d for _, _, d in g.out_edges("teddy_bear#0", data=True)]
    assert {d["predicate"] for d in between} == {"between"} and len(between) == 2


def test_count_ranges_resolve_from_the_seed():
    scene = Scene(objects=[ObjectGroup(name="dot", phrase="dots", count=CountRange(min=1, max=6))])
    draws = {scene.resolve_counts(seed)["dot"] for seed in range(40)}
    assert draws <= set(range(1, 7)) and len(draws) > 3
    assert scene.resolve_counts(5) == scene.resolve_counts(5)
    assert [i.id for i in scene.instances({"dot": 3})] == ["dot#0", "dot#1", "dot#2"]


@pytest.mark.parametrize("bad, fragment", [
    ({"groups": [{"name": "a", "phrase": "a", "count": 0}]}, "count"),
    ({"groups": [{"name": "a", "phrase": "a", "color": "mauve"}]}, "color"),
    ({"groups": [{"name": "a", "phrase": "a", "at": [0.5, 0.5, 0.2, 0.9]}]}, "fixed box"),
    ({"groups": [{"name": "a", "phrase": "a"}, {"name": "a", "phrase": "b"}]}, "declared twice"),
    ({"groups": [{"name": "a", "phrase": "a"}],
      "statements": [{"subject": {"group": "a"}, "predicate": "left_of", "objects": [{"group": "b"}]}]}, "unknown object"),
    ({"groups": [{"name": "a", "phrase": "a"}, {"name": "b", "phrase": "b"}],
      "statements": [{"subject": {"group": "a"}, "predicate": "levitates", "objects": [{"group": "b"}]}]}, "unknown relation"),
    ({"canvas": [0, 10]}, "canvas"),
    ([1, 2], "JSON object"),
])
def test_invalid_scene_json_gives_coded_errors(bad, fragment):
    with pytest.raises(SceneError) as info:
        Scene.from_json(json.dumps(bad))
    assert info.value.code == "E005" and fragment in str(info.value)


def test_malformed_json_text():
    with pytest.raises(SceneError, match="E005: invalid scene JSON: line 1"):
        Scene.from_json("{not json")


def test_schema_describes_scene_json():
    schema = Scene.json_schema()
    assert {"groups", "objects", "relations", "forbid", "canvas"} <= set(schema["properties"])
    assert schema["title"] == "compose scene"
