from pathlib import Path

import pytest
from helpers.strategies import scenes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from compose.errors import SceneSemanticError, SceneSyntaxError, UsageError
from compose.language import format_program, format_scene, parse_program
from compose.language.syntax import MAX_PROGRAM_BYTES, scene_parser
from compose.relations import RELATIONS, word_vocabulary

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.scene"))

KITCHEN = '''\
canvas 640 x 480
background "a kitchen"
style "photo"
negative "blurry"
seed 7
object kettle "a steel kettle" size large
object mug "a red mug" count 2 color red
object plant "a basil plant" class "potted plant" size 0.2 aspect 0.8 with material="clay", leaves=12, wet=true, h=1.5
object cat "a ginger cat" at (0.55, 0.4, 0.95, 0.9)
object book "a book" count 1..3
mug left of kettle
mug[0] left of mug[1]
cat between plant and kettle weight 3
prefer cat above mug weight 2
forbid dog
forbid "a red pen"
require count(mug) == 2
'''


def test_parses_every_statement():
    scene = parse_program(KITCHEN, file="kitchen.scene")
    assert scene.canvas == (640, 480) and scene.seed == 7
    assert (scene.background, scene.style, scene.negative) == ("a kitchen", "photo", "blurry")
    plant = scene.group("plant")
    assert plant.class_name == "potted plant" and plant.size == 0.2 and plant.aspect == 0.8
    assert plant.attributes == {"material": "clay", "leaves": 12, "wet": True, "h": 1.5}
    assert scene.group("cat").at == (0.55, 0.4, 0.95, 0.9)
    assert scene.group("book").count.min == 1 and scene.group("book").count.max == 3
    preds = [(str(s.subject), s.predicate, [str(o) for o in s.objects], s.hard, s.weight) for s in scene.statements]
    assert preds == [("mug", "left_of", ["kettle"], True, 1.0), ("mug[0]", "left_of", ["mug[1]"], True, 1.0),
                     ("cat", "between", ["plant", "kettle"], True, 3.0), ("cat", "above", ["mug"], False, 2.0)]
    assert scene.forbid == ["dog", "a red pen"]
    assert scene.requirements[0].target == "mug" and scene.requirements[0].op == "=="


def test_spans_point_at_statements():
    scene = parse_program(KITCHEN, file="kitchen.scene")
    assert scene.group("mug").span.describe() == "kitchen.scene:7:1"
    assert scene.statements[2].span.line == 13
    assert scene.statements[3].span.line == 14  # `prefer` statements cite their own line
    assert scene.forbidden[1].span.line == 16


@pytest.mark.parametrize("words, name", [(w, spec.name) for spec in RELATIONS.values()
                                         for w in spec.program_words if spec.arity == 1])
def test_every_program_phrase_of_every_relation(words, name):
    scene = parse_program(f'object a "a"\nobject b "b"\na {words} b\n')
    assert scene.statements[0].predicate == name


def test_grammar_relation_words_match_the_relations_table():
    pattern = scene_parser().get_terminal("REL_WORD").pattern.value
    grammar_words = set(pattern.split("(", 1)[1].split(")", 1)[0].split("|"))
    assert grammar_words == word_vocabulary() - {"between"}


def test_keywords_are_the_grammars_words():
    """``compose.scene.KEYWORDS`` (what a name may not be, in programs and in the prompt reader's
    names) is every word the grammar spells out, but ``x`` (a name: ``canvas W x H`` reads it)."""
    from compose.scene import KEYWORDS

    words = {t.pattern.value for t in scene_parser().terminals
             if t.pattern.type == "str" and t.pattern.value.isalpha()}
    assert KEYWORDS == words - {"x"}


@pytest.mark.parametrize("text, code, line, col, fragment", [
    ('object mug "a mug"\nmugs left of mug\n', "E103", 2, 1, "did you mean 'mug'?"),
    ('object mug "a"\nobject mug "b"\n', "E104", 2, 8, "first on line 1"),
    ('object mug "a" count 2\nobject p "p"\nmug[2] left of p\n', "E105", 3, 1, "indices run 0..1"),
    ('object mug "a"\nmug left of mug\n', "E106", 2, 1, "itself"),
    ('object a "a"\nobject b "b"\na left on b\n', "E107", 3, 3, "unknown relation 'left on'"),
    ('object a "a" at (0.5, 0.1, 0.2, 0.9)\n', "E108", 1, 14, "outside 0..1"),
    ('object a "a" at (-0.1, 0.1, 0.2, 0.9)\n', "E108", 1, 14, "outside 0..1"),
    ('object a "a" count 1000000\n', "E109", 1, 14, "limit is 200"),
    ('object a "a" count 0\n', "E109", 1, 14, "forbid"),
    ('object a "a" count 5..2\n', "E109", 1, 14, "empty"),
    ('object a "a" color red color blue\n', "E110", 1, 24, "color is given twice"),
    ('object a "a" color bleu\n', "E111", 1, 20, "did you mean 'blue'?"),
    ('object a "a" size gigantic\n', "E112", 1, 19, "gigantic"),
    ('object a "a" count 2 at (0.1, 0.1, 0.2, 0.2)\n', "E114", 1, 22, "count 1"),
    ('seed 1\nseed 2\n', "E115", 2, 1, "first on line 1"),
    ('object a "a"\nobject b "b"\na between a and b\n', "E106", 3, 1, "itself"),
])
def test_semantic_errors_are_coded_and_positioned(text, code, line, col, fragment):
    with pytest.raises(SceneSemanticError) as info:
        parse_program(text, file="s.scene")
    err = info.value
    assert err.code == code and fragment in err.message
    assert (err.span.line, err.span.column) == (line, col)
    assert err.location() == f"s.scene:{line}:{col}"
    assert "^" in err.excerpt()


@pytest.mark.parametrize("text, fragment, line", [
    ('object mug "a mug\n', "unclosed string", 1),
    ('object mug\n', "expected a quoted phrase", 1),
    ('object mug "a" count\n', "expected a whole number", 1),
    ('object a "a"\nobject b "b"\na lefty of b\n', "expected a relation such as 'left of'", 3),
    ('object a "a"\na left of', "unexpected end of line; expected a name", 2),
    ('\x00\x01\x02junk', "character '\\x00'", 1),
    ('objekt a "a"\n', "name 'a'", 1),
    ('canvas 512 by 512\n', "expected 'x'", 1),
])
def test_syntax_errors_say_what_was_expected_in_words(text, fragment, line):
    with pytest.raises(SceneSyntaxError) as info:
        parse_program(text, file="s.scene")
    assert fragment in str(info.value) and info.value.span.line == line
    assert "NAME" not in str(info.value) and "_NL" not in str(info.value)


def test_empty_programs_are_an_error():
    for text in ["", "\n\n", "# only a comment\n"]:
        with pytest.raises(SceneSyntaxError, match="E002"):
            parse_program(text)


def test_tabs_crlf_bom_and_unicode_identifiers_are_accepted():
    text = '\ufeffobject\tça "un chat"\r\nobject b "b"\r\n\tça  left of\tb\r\n'
    scene = parse_program(text)
    assert scene.statements[0].subject.group == "ça"


def test_size_limit():
    with pytest.raises(UsageError, match="E003"):
        parse_program("#" * (MAX_PROGRAM_BYTES + 1))


@given(from_lark(scene_parser(), start="start") | st.text(max_size=200))
def test_any_text_parses_or_raises_our_error(text):
    try:
        parse_program(text)
    except (SceneSyntaxError, SceneSemanticError, UsageError):
        pass


@given(scenes())
def test_format_then_parse_is_identity(scene):
    program = format_scene(scene)
    again = parse_program(program)
    assert again == scene
    assert format_scene(again) == program


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse_format_idempotently_and_round_trip(path):
    text = path.read_text()
    scene = parse_program(text, file=str(path))
    assert format_program(text) == text, "examples are kept in canonical form (compose fmt)"
    assert parse_program(format_scene(scene)) == scene
    assert type(scene).from_json(scene.to_json()) == scene


def test_examples_use_every_statement_and_relation():
    text = "\n".join(p.read_text() for p in EXAMPLES)
    scenes_ = [parse_program(p.read_text()) for p in EXAMPLES]
    used = {st.predicate for s in scenes_ for st in s.statements}
    assert used == set(RELATIONS)
    for keyword in ["canvas", "background", "style", "negative", "seed", "object", "count", "color", "size",
                    "at (", "aspect", "class", "with", "prefer", "weight", "forbid", "require", ".."]:
        assert keyword in text, keyword
    assert len(EXAMPLES) >= 8


def test_formatter_keeps_comments():
    text = '# head\nseed 3  # seeded\n\n# the cat\nobject   cat "a cat"\nobject dog "a dog"\ncat left of dog # why\n# tail\n'
    assert format_program(text) == ('# head\nseed 3  # seeded\n\n# the cat\nobject cat "a cat"\n'
                                    'object dog "a dog"\n\ncat left of dog  # why\n\n# tail\n')


# --- object phrases read by the prompt reader ----------------------------------------------------


def _read_with_phrases(text: str):
    from compose.api import parse_program as read

    return read(text)


def test_an_object_phrase_fills_what_the_options_leave_unset():
    scene = _read_with_phrases('object c "a red circle"\nobject dogs "three brown dogs"\nc left of dogs\n')
    c, dogs = scene.objects
    assert (c.class_name, c.color, c.count) == ("circle", "red", 1)
    assert (dogs.class_name, dogs.color, dogs.count) == ("dog", "brown", 3)
    assert [i.id for i in scene.instances()] == ["c#0", "dogs#0", "dogs#1", "dogs#2"]
    assert scene.warnings == []


def test_an_option_the_phrase_contradicts_is_kept_with_a_warning_naming_both():
    scene = _read_with_phrases('object m "a blue mug" color red count 2\nobject t "a table" class "desk"\n')
    m, t = scene.objects
    assert (m.color, m.count, t.class_name) == ("red", 2, "desk")
    messages = [w.message for w in scene.warnings]
    assert len(messages) == 2 and all(x.startswith("W101") for x in messages)
    assert "red" in messages[0] and "blue" in messages[0] and "'a blue mug'" in messages[0]
    assert "desk" in messages[1] and "table" in messages[1]
    assert scene.warnings[0].span.line == 1


def test_a_phrase_of_several_things_fills_nothing():
    scene = _read_with_phrases('object pair "a cat and a dog"\n')
    assert scene.objects[0].class_name == "pair"
    assert [w.message[:4] for w in scene.warnings] == ["W103"]


def test_a_fixed_box_keeps_its_one_instance_whatever_the_phrase_counts():
    scene = _read_with_phrases('object dogs "three dogs" at (0.1, 0.1, 0.4, 0.4)\n')
    assert scene.objects[0].count == 1 and scene.objects[0].class_name == "dog"


def test_the_language_alone_keeps_phrases_as_written():
    scene = parse_program('object c "a red circle"\n')
    assert (scene.objects[0].class_name, scene.objects[0].color) == ("c", None)


def test_parse_shows_what_was_read_from_the_phrase(tmp_path):
    import subprocess
    import sys

    program = tmp_path / "p.scene"
    program.write_text('object c "a red circle"\nobject m "a blue mug" color red\n')
    out = subprocess.run([sys.executable, "-m", "compose", "parse", str(program)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert 'object c "a red circle" class "circle" color red' in out.stdout
    assert "W101" in out.stderr
