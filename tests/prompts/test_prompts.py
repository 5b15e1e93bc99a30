"""The prompt parser: what each phrasing becomes, errors, warnings, spans, names, round trips."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compose
from compose.api import format_scene, parse_program, parse_prompt, parse_prompts
from compose.errors import PromptError
from compose.language import parse_program as read_program
from compose.prompts import MAX_PROMPT_CHARS
from compose.prompts.lexicon import CLASS_PHRASES, GENEVAL_CLASSES, plural_forms, singular
from compose.relations import RELATIONS
from compose.scene import CountRange, Scene


def summary(text):
    """(groups as name:class*count:color, statements as text, forbidden) of a prompt's scene."""
    scene = parse_prompt(text)
    groups = []
    for g in scene.objects:
        count = g.count if isinstance(g.count, int) else f"{g.count.min}..{g.count.max}"
        groups.append(f"{g.name}:{g.class_name}*{count}" + (f":{g.color}" if g.color else ""))
    statements = [f"{s.subject} {s.predicate} {' '.join(map(str, s.objects))}" for s in scene.statements]
    return groups, statements, scene.forbid


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_prompt_is_E201(text):
    with pytest.raises(PromptError) as info:
        parse_prompt(text)
    assert info.value.code == "E201" and info.value.exit_code == 3


def test_prompt_over_the_limit_is_E202_and_the_limit_itself_is_fine():
    at_limit = ("a cat " * MAX_PROMPT_CHARS)[:MAX_PROMPT_CHARS]
    assert parse_prompt(at_limit).objects
    with pytest.raises(PromptError) as info:
        parse_prompt(at_limit + "x")
    assert info.value.code == "E202" and str(MAX_PROMPT_CHARS) in str(info.value)


def test_a_bad_prompt_in_a_batch_names_itself():
    with pytest.raises(PromptError, match="E201"):
        parse_prompts(["a cat", ""])


def test_public_api_is_exposed_lazily():
    assert compose.parse_prompt is parse_prompt and compose.parse_prompts is parse_prompts


# --- counts, plurals, classes ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("a cat", ["cat:cat*1"]),
    ("an apple", ["apple:apple*1"]),
    ("seventeen balloons", ["balloon:balloon*17"]),
    ("14 birds", ["bird:bird*14"]),
    ("a pair of shoes", ["shoe:shoe*2"]),
    ("a pair of scissors", ["scissors:scissors*1"]),
    ("some apples", ["apple:apple*2..4"]),
    ("several mugs", ["mug:mug*3..6"]),
    ("a few dogs", ["dog:dog*2..4"]),
    ("many stars", ["star:star*5..10"]),
    ("three glasses", ["glass:glass*3"]),
    ("two skis", ["skis:skis*2"]),
    ("four people", ["person:person*4"]),
    ("five mice", ["mouse:mouse*5"]),
    ("six knives", ["knife:knife*6"]),
    ("two sheep", ["sheep:sheep*2"]),
    ("three buses", ["bus:bus*3"]),
    ("two couches", ["couch:couch*2"]),
    ("two wine glasses", ["wine_glass:wine glass*2"]),
    ("three computer mice", ["computer_mouse:computer mouse*3"]),
    ("a hair drier", ["hair_drier:hair drier*1"]),
])
def test_counts_and_plurals(text, expected):
    assert summary(text)[0] == expected


def test_every_geneval_class_reads_in_singular_and_plural():
    for cls in GENEVAL_CLASSES:
        article = "an" if cls[0] in "aeiou" else "a"
        assert [g.class_name for g in parse_prompt(f"{article} {cls}").objects] == [cls], cls
        for plural in sorted(plural_forms(cls)):
            scene = parse_prompt(f"three {plural}")
            assert [(g.class_name, g.count) for g in scene.objects] == [(cls, 3)], plural


def test_singular_of_the_tables():
    assert singular("people") == "person" and singular("teddy bears") == "teddy bear"
    assert singular("boxes") == "box" and singular("puppies") == "puppy"
    assert all(singular(form) == cls for form, cls in CLASS_PHRASES.items())


def test_bare_plural_is_a_range():
    group = parse_prompt("apples on a table").objects[0]
    assert group.count == CountRange(min=2, max=4)


def test_count_over_the_limit_is_clamped_with_a_warning():
    scene = parse_prompt("500 dots")
    assert scene.objects[0].count == 200
    assert any("over the limit" in w.message for w in scene.warnings)


# --- attributes ----------------------------------------------------------------------------------


def test_colors_bind_to_their_own_noun():
    assert summary("a red car and a blue bench")[0] == ["car:car*1:red", "bench:bench*1:blue"]


def test_same_class_different_colors_make_separate_groups():
    groups, _, _ = summary("a blue mug and two red mugs")
    assert groups == ["mug:mug*1:blue", "mug_2:mug*2:red"]


def test_color_word_that_is_also_a_class():
    assert summary("an orange orange")[0] == ["orange:orange*1:orange"]
    assert summary("an orange cow")[0] == ["cow:cow*1:orange"]
    assert summary("three oranges")[0] == ["orange:orange*3"]


def test_color_synonyms_sizes_materials_and_adjectives():
    scene = parse_prompt("a big grey wooden chair and a tiny violet fluffy old cat")
    chair, cat = scene.objects
    assert (chair.color, chair.size, chair.attributes) == ("gray", "large", {"material": "wooden"})
    assert (cat.color, cat.size) == ("purple", "tiny")
    assert cat.attributes == {"material": "fluffy", "adjectives": "old"}


def test_predicate_adjectives():
    assert summary("the car is red and the bench is blue")[0] == ["car:car*1:red", "bench:bench*1:blue"]


def test_shape_adjectives_and_joined_colors():
    table, rug = parse_prompt("a round table next to a square rug").objects
    assert (table.class_name, table.attributes, rug.class_name, rug.attributes) == (
        "table", {"shape": "round"}, "rug", {"shape": "square"})
    assert summary("an orange and white cat")[0] == ["cat:cat*1:orange"]
    assert summary("a square and circle")[0] == ["square:square*1", "circle:circle*1"]


def test_no_other_things_is_an_exact_count():
    scene = parse_prompt("two yellow cars on a street with no other cars")
    assert not scene.forbidden
    assert [(q.target, q.op, q.value) for q in scene.requirements] == [("car", "==", 2)]
    # the language's own reading (phrases kept as written) gives the scene back exactly
    assert read_program(format_scene(scene)) == scene.model_copy(update={"prompt": None, "warnings": []})


def test_clothing_describes_its_wearer_and_possessives_name_new_things():
    scene = parse_prompt("a man in a red shirt next to a woman wearing a blue dress, and his dog")
    assert [(g.name, g.attributes.get("wearing")) for g in scene.objects] == [
        ("man", "a red shirt"), ("woman", "a blue dress"), ("dog", None)]
    assert [(s.subject.group, s.predicate, s.objects[0].group) for s in scene.statements] == [
        ("man", "next_to", "woman")]


@pytest.mark.parametrize("text, groups, statements", [
    ("two cats, one black and one white", ["cat:cat*1:black", "cat_2:cat*1:white"], []),
    ("four mugs, two red and two blue, on a table",
     ["mug:mug*2:red", "mug_2:mug*2:blue", "table:table*1"], ["mug on table", "mug_2 on table"]),
    ("a bowl between two cats, one black and one white",
     ["bowl:bowl*1", "cat:cat*1:black", "cat_2:cat*1:white"], ["bowl between cat[0] cat_2[0]"]),
    ("two cats, one black", ["cat:cat*2"], []),  # does not add up: kept whole, with a warning
])
def test_a_group_described_part_by_part(text, groups, statements):
    assert summary(text)[:2] == (groups, statements)


def test_two_colors_keep_the_first_and_warn():
    scene = parse_prompt("a red and white bus")
    assert scene.objects[0].color == "red"
    assert scene.objects[0].attributes["other_colors"] == "white"
    assert scene.warnings


# --- relations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RELATIONS))
def test_every_phrasing_of_every_relation(name):
    spec = RELATIONS[name]
    from compose.relations import lookup_words

    for words in spec.all_words:
        if lookup_words(words).name != name:  # "beside" reads as the relation lookup_words gives
            continue
        if name == "between":
            text = f"a cat {words} a dog and a bird"
            expected = ["cat between dog bird"]
        else:
            text = f"a cat {words} a dog"
            expected = [f"cat {name} dog"]
        assert summary(text)[1] == expected, text


@pytest.mark.parametrize("text, expected", [
    ("a cat sitting on a mat", ["cat on mat"]),
    ("a car parked next to a bench", ["car next_to bench"]),
    ("a bird flying above a tree", ["bird above tree"]),
    ("the cup is placed to the left of the bowl", ["cup left_of bowl"]),
    ("a vase resting on top of a piano", ["vase on piano"]),
    ("a star above a moon above a house", ["star above moon", "moon above house"]),
    ("a cat and a dog are next to a bowl", ["cat next_to bowl", "dog next_to bowl"]),
    ("a cat sitting on a red couch next to three dogs", ["cat on couch", "cat next_to dog"]),
    ("a circle between two squares", ["circle between square[0] square[1]"]),
    ("a table with a vase on it", ["vase on table"]),
    ("on the table is a vase", ["vase on table"]),
    ("a cat on the left and a dog on the right", ["cat left_of dog"]),
    ("two cats next to each other", ["cat[0] next_to cat[1]"]),
    ("a square and a circle. the square is above the circle", ["square above circle"]),
    ("the dog is left of the cat and right of the horse", ["dog left_of cat", "dog right_of horse"]),
    ("a cat at the left of a dog", ["cat left_of dog"]),
    ("a giraffe on the top of a car", ["giraffe above car"]),  # T2I-CompBench reads it so
    ("a golden retriever lying beside a fireplace", ["retriever next_to fireplace"]),  # tagged JJ
])
def test_relations_in_sentences(text, expected):
    assert summary(text)[1] == expected


def test_later_mentions_bind_to_the_earlier_group():
    groups, statements, _ = summary("a red cube and a blue cube; the red cube is left of the blue cube")
    assert groups == ["cube:cube*1:red", "cube_2:cube*1:blue"]
    assert statements == ["cube left_of cube_2"]


# --- negation, framing, case ---------------------------------------------------------------------


@pytest.mark.parametrize("text, groups, forbidden", [
    ("no dogs", [], ["dog"]),
    ("a photo of a cat without any cars", ["cat:cat*1"], ["car"]),
    ("a kitchen with no people", [], ["person"]),
    ("a park with no dogs or cats", [], ["dog", "cat"]),
    ("a bench with no one on it", ["bench:bench*1"], ["person"]),
])
def test_negation_forbids(text, groups, forbidden):
    got_groups, _, got_forbidden = summary(text)
    assert (got_groups, got_forbidden) == (groups, forbidden)


def test_setting_nouns_become_the_background():
    scene = parse_prompt("a kitchen with no people")
    assert scene.background == "a kitchen" and not scene.objects


@pytest.mark.parametrize("framing", ["a photo of", "an image of", "a picture showing", "A PICTURE OF",
                                     "there is", "a photograph of"])
def test_framing_words_are_dropped(framing):
    scene = parse_prompt(f"{framing} a dog")
    assert [g.class_name for g in scene.objects] == ["dog"] and scene.style is None
    assert not scene.warnings


def test_art_framing_becomes_the_style():
    assert parse_prompt("an oil painting of a ship").style == "oil painting"


def test_case_and_punctuation_are_ignored():
    assert summary("A RED Car, LEFT OF a blue BENCH!!!") == summary("a red car left of a blue bench")


# --- warnings, spans, names ----------------------------------------------------------------------


def test_what_cannot_be_understood_is_a_warning_with_a_span():
    text = "a dog chasing a cat next to"
    scene = parse_prompt(text)
    messages = [w.message for w in scene.warnings]
    assert any("chasing" in m for m in messages)
    assert any("no object" in m for m in messages)
    for warning in scene.warnings:
        assert warning.span is not None and text[warning.span.start:warning.span.end] == warning.span.text


def test_spans_point_into_the_prompt():
    text = "A photo of two Red mugs, left of a kettle, and no dogs"
    scene = parse_prompt(text)
    assert scene.prompt == text
    assert [g.span.text for g in scene.objects] == ["two Red mugs", "a kettle"]
    assert [g.phrase for g in scene.objects] == ["two Red mugs", "a kettle"]
    assert scene.statements[0].span.text == "two Red mugs, left of a kettle"
    assert scene.forbidden[0].span.text == "no dogs"
    for element in [*scene.objects, *scene.statements, *scene.forbidden]:
        assert text[element.span.start:element.span.end] == element.span.text


def test_group_names_are_identifiers_the_language_can_write():
    scene = parse_prompt("a canvas next to a spinning top and a teddy bear and another teddy bear")
    assert [g.name for g in scene.objects] == ["canvas_object", "top_object", "teddy_bear", "teddy_bear_2"]
    assert [g.class_name for g in scene.objects] == ["canvas", "top", "teddy bear", "teddy bear"]
    # the language's own reading (phrases kept as written) gives the scene back exactly
    assert read_program(format_scene(scene)) == scene.model_copy(update={"prompt": None, "warnings": []})


# --- round trips and properties -------------------------------------------------------------------

ROUND_TRIP = [
    "three red apples to the left of a blue bowl",
    "a cat sitting on a red couch next to three dogs, with no people",
    "an orange diamond between two blue circles",
    "several small wooden chairs around a big dining table",
    "two cats next to each other and a dog on the right of them",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_a_prompt_scene_formats_to_a_program_that_parses_back(text):
    scene = parse_prompt(text)
    program = format_scene(scene)
    assert program.startswith(f"# prompt: {text}")
    assert parse_program(program) == scene.model_copy(update={"prompt": None, "warnings": []})
    assert Scene.from_json(scene.to_json()) == scene


WORDS = ["a", "an", "the", "two", "3", "some", "no", "without", "any", "red", "big", "orange",
         "cat", "cats", "teddy", "bear", "mug", "glasses", "square", "it", "one", "and", ",", ".",
         "left", "of", "on", "top", "next", "to", "between", "above", "is", "sitting", "each",
         "other", "photo", "pair", "in", "front", "kitchen", "side", "by", "not", "with", "them",
         "black", "white", ":", "wearing", "shirt", "his"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14))
def test_word_salad_reads_into_a_valid_writable_scene(words):
    text = " ".join(words)
    scene = parse_prompt(text)
    assert scene.prompt == text
    if not (scene.objects or scene.forbidden or scene.background or scene.style):
        assert scene.warnings  # an empty scene says why
        return
    # the language's own reading (phrases kept as written) gives the scene back exactly
    assert read_program(format_scene(scene)) == scene.model_copy(update={"prompt": None, "warnings": []})


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text):
    try:
        scene = parse_prompt(text)
    except PromptError as err:
        assert err.code in ("E201", "E202")
    else:
        assert isinstance(scene, Scene) and scene.prompt == text


def test_the_closed_vocabulary_fast_path_reads_the_same_scenes():
    """Prompts whose words the tables decide skip the tagger; the scene must not change."""
    import json
    from pathlib import Path

    from compose.prompts import parse_prompts as read
    from compose.prompts.nlp import load_pipeline
    from compose.prompts.parser import _tag_closed

    data = Path(__file__).parents[1] / "data"
    prompts = [json.loads(line)["prompt"] for name in ("geneval/evaluation_metadata.jsonl",
                                                       "prompts_hard.jsonl")
               for line in (data / name).read_text().splitlines() if line.strip()]
    nlp = load_pipeline()
    fast = [p for p in prompts if _tag_closed(nlp.make_doc(p.lower()))]
    assert len(fast) >= 553  # every GenEval prompt, and part of the hard set
    assert not _tag_closed(nlp.make_doc("a dog chasing a cat"))
    assert not _tag_closed(nlp.make_doc("a hot pizza"))  # "hot" outside "hot dog" needs the tagger
    quick = read(prompts)
    tagged = read(prompts, closed_fast_path=False)
    differ = [p for p, a, b in zip(prompts, quick, tagged) if a != b or a.warnings != b.warnings]
    assert not differ


def test_no_pipeline_is_E203(monkeypatch):
    from compose.prompts import nlp as pipeline

    pipeline.load_pipeline.cache_clear()
    monkeypatch.setattr(pipeline, "MODEL_NAMES", ("no_such_pipeline_a", "no_such_pipeline_b"))
    try:
        with pytest.raises(PromptError) as info:
            parse_prompt("a cat")
        assert info.value.code == "E203" and "no_such_pipeline_b" in str(info.value)
    finally:
        pipeline.load_pipeline.cache_clear()
    monkeypatch.undo()
    assert parse_prompt("a cat").objects


def test_the_pipeline_loads_once_without_unneeded_components():
    from compose.prompts.nlp import load_pipeline

    nlp = load_pipeline()
    assert nlp is load_pipeline()
    assert nlp.pipe_names == ["tok2vec", "tagger"]  # the parser runs on demand
    assert nlp.component_names == ["tok2vec", "tagger", "parser"]
