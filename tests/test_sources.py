"""compose.sources: every way a scene arrives gives the same scene."""

from __future__ import annotations

import pytest

from compose.errors import SceneSyntaxError, UsageError
from compose.sources import as_scene, load_scene, scene_from_spec

PROGRAM = 'object cat "a cat"\nobject dog "a dog"\ncat left of dog\n'


def test_a_program_file_its_json_and_its_text_agree(tmp_path):
    program = tmp_path / "pets.scene"
    program.write_text(PROGRAM)
    scene = load_scene(program)
    as_json = tmp_path / "pets.json"
    as_json.write_text(scene.to_json())
    assert load_scene(as_json) == scene
    assert as_scene(PROGRAM, kind="program") == scene
    assert as_scene(program) == scene
    assert as_scene(scene) is scene
    assert scene_from_spec({"scene": str(program), "line": 1}) == scene
    assert scene_from_spec({"program": PROGRAM, "line": 1}) == scene


def test_errors_cite_the_source(tmp_path):
    with pytest.raises(SceneSyntaxError) as err:
        scene_from_spec({"program": "object\n", "line": 7})
    assert "<spec line 7>" in str(err.value.location())
    with pytest.raises(UsageError) as missing:
        load_scene(tmp_path / "nope.scene")
    assert missing.value.code == "E001"
