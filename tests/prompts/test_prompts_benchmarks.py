"""The prompt reader on other benchmarks' prompts: T2I-CompBench's training split (exact ground
truth), hand-made LMD/HRS-style prompts, the raw free-form lines, and coded warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.errors import PromptError, Warnings, warning_code
from compose.prompts import parse_prompt, parse_prompts
from compose.prompts.gold import held_out, misses, read_gold

DATA = Path(__file__).parents[1] / "data"
T2I = DATA / "t2icompbench"


@pytest.fixture(scope="module")
def t2i_gold():
    gold = read_gold(T2I / "gold_train.jsonl")
    return gold, [s.to_dict() for s in parse_prompts([g["prompt"] for g in gold])]


def test_t2i_compbench_training_split_reads_exactly(t2i_gold):
    gold, scenes = t2i_gold
    failures = [(g["prompt"], m) for g, s in zip(gold, scenes) if (m := misses(g, s))]
    assert len(gold) == 2474
    assert len(failures) <= 0.02 * len(gold), failures[:20]
    held = [(g, s) for g, s in zip(gold, scenes) if held_out(g["prompt"])]
    assert sum(not misses(g, s) for g, s in held) >= 0.98 * len(held)


def test_hand_made_benchmark_style_prompts_read_exactly():
    gold = read_gold(DATA / "prompts_benchmarks.jsonl")
    sources = {g["source"] for g in gold}
    assert {"handmade/negation", "handmade/lmd_spatial", "handmade/hrs_spatial"} <= sources
    scenes = [s.to_dict() for s in parse_prompts([g["prompt"] for g in gold])]
    failures = [(g["prompt"], m) for g, s in zip(gold, scenes) if (m := misses(g, s))]
    assert failures == []


def test_the_score_notices_a_wrong_reading(t2i_gold):
    gold, scenes = t2i_gold
    k = next(i for i, g in enumerate(gold) if g["relations"])
    assert misses(gold[k], scenes[k]) == []
    assert misses(gold[k], {**scenes[k], "relations": []})
    assert misses(gold[k], {**scenes[k], "groups": scenes[k]["groups"][:1]})


@pytest.mark.parametrize("text, groups, relations", [
    ("A realistic photo of a scene with a cup on the right and a laptop on the left",
     ["cup", "laptop"], [("cup", "right_of", "laptop")]),
    ("a vase on the top and a clock on the bottom", ["vase", "clock"], [("vase", "above", "clock")]),
    ("a cat above and to the right of a dog", ["cat", "dog"],
     [("cat", "above", "dog"), ("cat", "right_of", "dog")]),
    ("a car and a dog under a horse and on the left of an airplane",
     ["car", "dog", "horse", "airplane"],
     [("car", "under", "horse"), ("dog", "under", "horse"), ("car", "left_of", "airplane"),
      ("dog", "left_of", "airplane")]),
    ("A Red Kite Above A Green Field", ["kite", "field"], [("kite", "above", "field")]),
    ("a fox hidden by a tree", ["fox", "tree"], [("fox", "behind", "tree")]),
    ("a duck on side of a pond", ["duck", "pond"], [("duck", "next_to", "pond")]),
    ("a cat to the upper left of a dog", ["cat", "dog"], [("cat", "above", "dog"), ("cat", "left_of", "dog")]),
    ("a lamp in the top left corner and a chair in the bottom right corner", ["lamp", "chair"],
     [("lamp", "above", "chair"), ("lamp", "left_of", "chair")]),
])
def test_benchmark_phrasings(text, groups, relations):
    scene = parse_prompt(text)
    assert [g.class_name for g in scene.objects] == groups
    got = [(s.subject.group, s.predicate, s.objects[0].group) for s in scene.statements]
    assert sorted(got) == sorted(relations)


@pytest.mark.parametrize("text, forbidden, background", [
    ("A realistic photo of a scene without backpacks", ["backpack"], None),
    ("a kitchen with no people", ["person"], "a kitchen"),
])
def test_framing_and_settings_are_not_objects(text, forbidden, background):
    scene = parse_prompt(text)
    assert scene.objects == []
    assert [f.name for f in scene.forbidden] == forbidden
    assert scene.background == background


def test_words_outside_the_tables():
    scene = parse_prompt("a red rose and a white carnation, a beige sofa, a silver spoon and three walruses")
    read = {g.class_name: (g.count, g.color or g.attributes.get("color") or g.attributes.get("material"))
            for g in scene.objects}
    assert read == {"rose": (1, "red"), "carnation": (1, "white"), "couch": (1, "beige"),
                    "spoon": (1, "silver"), "walrus": (3, None)}
    assert [warning_code(w.message) for w in scene.warnings] == ["W204"]  # beige: not checkable


def test_raw_training_lines_read_with_a_warning_for_what_was_not_read():
    lines = [line.strip() for path in sorted((T2I / "train").glob("*_train.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == 5600
    scenes = parse_prompts(lines)
    codes = {warning_code(w.message) for s in scenes for w in s.warnings}
    assert None not in codes and codes <= {c for c in vars(Warnings) if c.startswith("W")}
    # the free-form captions ("a woman is holding an umbrella and walking in the snow") say
    # what they dropped; the templated spatial lines are read in full
    by_file = {}
    for path in sorted((T2I / "train").glob("*_train.txt")):
        by_file[path.stem] = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    k = 0
    warned = {}
    for name, rows in by_file.items():
        warned[name] = sum(bool(s.warnings) for s in scenes[k:k + len(rows)])
        k += len(rows)
    assert warned["spatial_train"] == 0 and warned["3d_spatial_train"] == 0
    assert warned["non_spatial_train"] >= 500


def test_a_verb_that_is_no_relation_is_named():
    scene = parse_prompt("a woman holding an umbrella and walking in the snow")
    messages = [w.message for w in scene.warnings]
    assert any(m.startswith("W202") and "walking" in m for m in messages) or \
        any(m.startswith("W218") for m in messages)


BENCH_WORDS = ["A", "a", "an", "the", "Red", "silver", "beige", "rose", "kite", "Field", "scene",
               "realistic", "photo", "of", "with", "without", "no", "on", "the", "left", "right",
               "top", "bottom", "and", "above", "to", "below", "hidden", "by", "side", "three",
               "dogs", "walruses", "cacti", "under", "near", ",", ".", "is", "sitting", "kitchen"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(BENCH_WORDS), min_size=1, max_size=16) | st.text(max_size=120))
def test_any_text_reads_or_raises_a_coded_prompt_error(words):
    text = words if isinstance(words, str) else " ".join(words)
    try:
        scene = parse_prompt(text)
    except PromptError as err:
        assert err.code in ("E201", "E202")
        return
    assert all(warning_code(w.message) for w in scene.warnings)
    if not (scene.objects or scene.forbidden or scene.background or scene.style):
        assert scene.warnings


# nouns, adjectives and colors mostly outside the word tables, in the benchmarks' shapes
_NOUNS = ["acorn", "anchor", "badger", "barrel", "basket", "bucket", "cactus", "camel", "canoe", "carrot", "cello", "cherry", "crab", "crown", "cupcake", "dolphin", "donkey", "drum", "eagle", "easel", "feather", "flamingo", "flute", "fountain", "frog", "goose", "guitar", "hammer", "hedgehog", "helmet", "jar", "kangaroo", "kettle", "ladder", "lantern", "lemon", "lobster", "lion", "mango", "mirror", "monkey", "moose", "mushroom", "octopus", "ostrich", "owl", "panda", "parrot", "peacock", "pear", "penguin", "piano", "pillow", "pumpkin", "rabbit", "robot", "rocket", "saddle", "shark", "shovel", "snail", "snake", "sock", "spider", "squirrel", "statue", "swan", "teapot", "tiger", "tomato", "tractor", "trumpet", "turtle", "violin", "walrus", "whale", "wolf", "zebra"]
_ADJECTIVES = ["fluffy", "shiny", "tall", "tiny", "wooden", "old", "rusty", "sleepy", "striped", "spotted", "metallic", "glass", "little"]
_COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray"]
_RELATIONS = {"on the left of": "left_of", "on the right of": "right_of", "above": "above",
              "below": "below", "next to": "next_to", "near": "next_to", "behind": "behind",
              "in front of": "in_front_of", "on the top of": "above", "on the bottom of": "below",
              "hidden by": "behind", "on side of": "next_to", "under": "under", "beside": "next_to"}


def _families(n: int, seed: int) -> list[dict]:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b, c = rng.sample(_NOUNS, 3)
        r1, r2 = rng.sample(list(_RELATIONS), 2)
        phrases, colors = [], {}
        for noun in (a, b, c):
            modifier = rng.choice(["", rng.choice(_ADJECTIVES), rng.choice(_COLORS)])
            words = f"{modifier} {noun}".strip()
            phrases.append(("an " if words[0] in "aeiou" else "a ") + words)
            colors[noun] = {"count": 1, **({"color": modifier} if modifier in _COLORS else {})}
        pa, pb, pc = phrases
        shape = rng.randrange(4)
        if shape == 0:
            prompt, nouns, relations = f"{pa} {r1} {pb}", (a, b), [[a, _RELATIONS[r1], b]]
        elif shape == 1:
            prompt, nouns = f"{pa} {r1} {pb} and {pc} {r2} the {b}", (a, b, c)
            relations = [[a, _RELATIONS[r1], b], [c, _RELATIONS[r2], b]]
        elif shape == 2:
            prompt, nouns = f"{pa} {r1} {pb} and {r2} {pc}", (a, b, c)
            relations = [[a, _RELATIONS[r1], b], [a, _RELATIONS[r2], c]]
        else:
            prompt, nouns = f"{pa} and {pb} {r1} {pc}", (a, b, c)
            relations = [[a, _RELATIONS[r1], c], [b, _RELATIONS[r1], c]]
        rows.append({"prompt": prompt, "objects": {x: colors[x] for x in nouns}, "relations": relations})
    return rows


def test_benchmark_shapes_with_words_outside_the_tables():
    rows = _families(400, seed=7)
    scenes = [s.to_dict() for s in parse_prompts([r["prompt"] for r in rows])]
    failures = [(r["prompt"], m) for r, s in zip(rows, scenes) if (m := misses(r, s))]
    assert len(failures) <= 4, failures
