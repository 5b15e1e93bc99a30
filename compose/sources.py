"""Scenes from their sources: a file (program or scene JSON), a prompt, a program text, a spec line.

This is the one place that turns "where a scene comes from" into a :class:`~compose.scene.Scene`;
the API, the loop, batch runs and the command line all call it.

Examples
--------
>>> scene = as_scene('object cat "a cat"\\n', kind="program")
>>> [g.name for g in scene.objects]
['cat']
>>> scene_from_spec({"program": 'object dog "a dog"\\nobject cat "a cat"\\n', "line": 3}).objects[1].name
'cat'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from compose.io import read_text
from compose.scene import Scene


def parse_program(text: str, file: str | None = None) -> Scene:
    """A scene program read and checked (the language front end); its object phrases are read
    by the prompt reader, filling what the options leave unset (docs/scene-language.md)."""
    from compose.language import parse_program as _parse
    from compose.prompts.phrases import read_object_phrase

    return _parse(text, file=file, read_phrase=read_object_phrase)


def parse_prompt(text: str) -> Scene:
    """A plain-English prompt read into a scene (the prompt reader)."""
    from compose.prompts import parse_prompt as _parse

    return _parse(text)


def load_scene(path: str | os.PathLike) -> Scene:
    """Read a scene from a ``.json`` scene file or a scene program (any other extension)."""
    text = read_text(path, "scene")
    if str(path).endswith(".json"):
        return Scene.from_json(text)
    return parse_program(text, file=str(path))


def as_scene(source: Any, *, kind: str | None = None) -> Scene:
    """A scene from a :class:`Scene`, a :class:`~pathlib.Path` (program or scene JSON), or a
    string: a prompt, or a program text when ``kind="program"``."""
    if isinstance(source, Scene):
        return source
    if isinstance(source, Path) or kind == "file":
        return load_scene(source)
    if kind == "program":
        return parse_program(str(source))
    return parse_prompt(str(source))


def scene_from_spec(spec: dict[str, Any]) -> Scene:
    """The scene of a batch spec line (``prompt``, ``program`` or ``scene`` path; ``line`` is
    its line number, cited by errors in the program)."""
    if "prompt" in spec:
        return parse_prompt(spec["prompt"])
    if "program" in spec:
        return parse_program(spec["program"], file=f"<spec line {spec.get('line', '?')}>")
    return load_scene(spec["scene"])
