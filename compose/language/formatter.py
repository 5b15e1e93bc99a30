"""The canonical program of any scene (from a program, a prompt or JSON).

Parsing the printed program gives back an equal scene: ``parse_program(format_scene(s)) == s``
(equality ignores source spans and prompt provenance, which the program keeps as comments).
"""

from __future__ import annotations

import json
import re

from compose.relations import CANONICAL_WORDS, word_vocabulary
from compose.scene import (
    KEYWORDS as _KEYWORDS,  # one list of keywords: names are the same everywhere
)
from compose.scene import CountRange, ObjectGroup, Ref, RelationStatement, Scene

_IDENTIFIER = re.compile(r"[^\W\d]\w*\Z")


def format_number(value: float) -> str:
    """Shortest text for a number: integers without a point.

    >>> format_number(2.0), format_number(0.55), format_number(3)
    ('2', '0.55', '3')
    """
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def quote(text: str) -> str:
    """A scene-language string literal.

    >>> quote('a "big" cat')
    '"a \\\\"big\\\\" cat"'
    """
    return json.dumps(text, ensure_ascii=False)


def is_plain_name(word: str) -> bool:
    """Whether ``word`` can be written unquoted (an identifier that is no keyword)."""
    return bool(_IDENTIFIER.match(word)) and word not in _KEYWORDS


def _default_class(name: str) -> str:
    return name.replace("_", " ").lower()


def format_object(group: ObjectGroup) -> str:
    parts = [f"object {group.name} {quote(group.phrase)}"]
    if group.class_name != _default_class(group.name):
        parts.append(f"class {quote(group.class_name)}")
    if isinstance(group.count, CountRange):
        parts.append(f"count {group.count.min}..{group.count.max}")
    elif group.count != 1:
        parts.append(f"count {group.count}")
    if group.color is not None:
        parts.append(f"color {group.color}")
    if group.size is not None:
        parts.append(f"size {group.size if isinstance(group.size, str) else format_number(group.size)}")
    if group.at is not None:
        parts.append("at (" + ", ".join(format_number(v) for v in group.at) + ")")
    if group.aspect is not None:
        parts.append(f"aspect {format_number(group.aspect)}")
    if group.attributes:
        parts.append("with " + ", ".join(f"{k}={_attribute(v)}" for k, v in group.attributes.items()))
    return " ".join(parts)


def _attribute(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return quote(value)


def _ref(ref: Ref) -> str:
    return str(ref)


def format_statement(st: RelationStatement) -> str:
    prefix = "" if st.hard else "prefer "
    if st.predicate == "between":
        body = f"{_ref(st.subject)} between {_ref(st.objects[0])} and {_ref(st.objects[1])}"
    else:
        body = f"{_ref(st.subject)} {CANONICAL_WORDS[st.predicate]} {_ref(st.objects[0])}"
    weight = "" if st.weight == 1.0 else f" weight {format_number(st.weight)}"
    return prefix + body + weight


def format_scene(scene: Scene, *, before: dict[int, list[str]] | None = None,
                 trailing: dict[int, str] | None = None, footer: list[str] | None = None,
                 setting_lines: dict[str, int] | None = None) -> str:
    """Print ``scene`` as a canonical scene program.

    Examples
    --------
    >>> from compose.language import parse_program
    >>> text = 'object  b "a ball"   color  red\\nobject a "an apple"\\na left of b\\n'
    >>> print(format_scene(parse_program(text)), end="")
    object b "a ball" color red
    object a "an apple"
    <BLANKLINE>
    a left of b
    >>> parse_program(format_scene(parse_program(text))) == parse_program(text)
    True

    ``before``, ``trailing`` and ``footer`` carry a program's comments (see :func:`format_program`),
    keyed by the source line of the element they belong to; ``setting_lines`` gives the source
    line of each global setting (``canvas``, ``seed``...), which have no spans of their own.
    """
    _check_writable(scene)
    before, trailing = before or {}, trailing or {}

    def emit(line: str, element=None, source_line: int | None = None) -> list[str]:
        where = source_line if source_line is not None else (
            element.span.line if element is not None and element.span is not None else None)
        out = list(before.get(where, [])) if where is not None else []
        tail = trailing.get(where) if where is not None else None
        out.append(f"{line}  {tail}" if tail else line)
        return out

    blocks: list[list[str]] = []
    if scene.prompt is not None:
        blocks.append([f"# prompt: {' '.join(scene.prompt.split())}"]
                      + [f"# warning: {' '.join(w.message.split())}" for w in scene.warnings])
    settings: list[str] = []
    written = [("canvas", f"canvas {scene.canvas[0]} x {scene.canvas[1]}")] if tuple(scene.canvas) != (512, 512) else []
    for key in ("background", "style", "negative"):
        value = getattr(scene, key)
        if value is not None:
            written.append((key, f"{key} {quote(value)}"))
    if scene.seed is not None:
        written.append(("seed", f"seed {scene.seed}"))
    for key, line in written:
        settings += emit(line, source_line=(setting_lines or {}).get(key))
    blocks.append(settings)
    blocks.append([x for g in scene.objects for x in emit(format_object(g), g)])
    blocks.append([x for st in scene.statements for x in emit(format_statement(st), st)])
    checks = [x for f in scene.forbidden
              for x in emit(f"forbid {f.name if is_plain_name(f.name) else quote(f.name)}", f)]
    checks += [x for r in scene.requirements for x in emit(
        f"require count({r.target if is_plain_name(r.target) else quote(r.target)}) {r.op} {r.value}", r)]
    blocks.append(checks)
    if footer:
        blocks.append(list(footer))
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"


def _check_writable(scene: Scene) -> None:
    """Scenes built in code may hold names the language cannot write; say so plainly."""
    from compose.errors import SceneSemanticError

    reserved = word_vocabulary()
    for group in scene.objects:
        if not is_plain_name(group.name):
            raise SceneSemanticError("E114", what="object name", value=group.name,
                                     expected="an identifier that is not a keyword, to be written as a program")
    for st in scene.statements:
        if st.predicate == "between":  # only a relation word can follow "between": no clash
            continue
        for ref in st.objects:
            if ref.group in reserved:
                raise SceneSemanticError("E114", what="object name", value=ref.group,
                                         expected="a name that is not a relation word when used as a relation's object")


_SETTING_LINE = re.compile(r"[ \t]*(canvas|background|style|negative|seed)\b")


def format_program(text: str, file: str | None = None) -> str:
    """Format a program's text, keeping its comments.

    A comment on a line of its own stays before the statement that follows it; a comment at the
    end of a statement's line stays at the end of that statement's line; comments after the last
    statement stay at the end.

    >>> print(format_program('# cats\\nobject  cat "a cat"   # the star\\n'), end="")
    # cats
    object cat "a cat"  # the star
    """
    from compose.language.semantics import parse_program
    from compose.language.syntax import comment_tokens

    scene = parse_program(text, file=file)
    comments = comment_tokens(text)
    lines = text.splitlines()
    setting_lines = {}
    for i, line in enumerate(lines):
        match = _SETTING_LINE.match(line)
        if match:
            setting_lines.setdefault(match.group(1), i + 1)
    statement_lines = sorted(
        {el.span.line for el in [*scene.objects, *scene.statements, *scene.forbidden, *scene.requirements]
         if el.span is not None and el.span.line is not None} | set(setting_lines.values()))
    before: dict[int, list[str]] = {}
    trailing: dict[int, str] = {}
    footer: list[str] = []
    for line, column, comment in comments:
        own_line = not lines[line - 1][: column - 1].strip()
        if not own_line:
            trailing[line] = comment
            continue
        following = [s for s in statement_lines if s > line]
        if following:
            before.setdefault(following[0], []).append(comment)
        else:
            footer.append(comment)
    return format_scene(scene, before=before, trailing=trailing, footer=footer,
                        setting_lines=setting_lines)
