"""Meaning: a parse tree to a checked :class:`~compose.scene.Scene`.

Checks run before any solving and each raises a coded :class:`SceneSemanticError` that cites the
statement's file:line:col: unknown names (with the nearest declared name), duplicate names and
options, instance index out of range, a relation of a thing with itself, unknown relation words,
a fixed box outside 0..1, an impossible count, unknown colors and sizes.

Object phrases are read when the caller gives a phrase reader (``read_phrase``; the public
:func:`compose.api.parse_program` gives the prompt reader's,
:func:`compose.prompts.phrases.read_object_phrase`): what the phrase says fills what the options
leave unset, and an option the phrase contradicts is kept with a warning (W101) naming both. The
language does not import the prompt reader: the two are independent front ends.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

from lark.visitors import Interpreter

from compose.errors import SceneSemanticError, SceneSyntaxError, warning_text
from compose.language.syntax import parse_tree
from compose.relations import RELATIONS, lookup_program_words
from compose.scene import (
    KEYWORDS,
    CountRange,
    Forbidden,
    ObjectGroup,
    Ref,
    RelationStatement,
    Requirement,
    Scene,
    SceneWarning,
    Span,
    valid_box,
)
from compose.vocabulary import COLORS, MAX_COUNT, SIZES, color_name


def parse_program(text: str, file: str | None = None,
                  read_phrase: Callable[[str], Any] | None = None) -> Scene:
    """Parse and check a scene program.

    Parameters
    ----------
    text : str
        The program.
    file : str, optional
        Its file name, cited in error positions and kept in every span.
    read_phrase : callable, optional
        Reads an object phrase into what it says (an object with ``class_name``, ``count``,
        ``color``, ``size``, ``attributes`` and ``things``, ``None`` fields saying nothing), or
        returns ``None``. Without it, phrases are kept as written and not read.

    Returns
    -------
    Scene

    Raises
    ------
    SceneSyntaxError
        The text is not a program (E101, E102).
    SceneSemanticError
        It parses but means no valid scene (E103-E115).

    Examples
    --------
    >>> scene = parse_program('object mug "a mug" count 2 color red\\nobject pot "a pot"\\nmug left of pot\\n')
    >>> [o.id for o in scene.instances()], scene.objects[0].span.line
    (['mug#0', 'mug#1', 'pot#0'], 1)
    >>> parse_program('object mug "a mug"\\nmugs above mug\\n')
    Traceback (most recent call last):
    ...
    compose.errors.SceneSemanticError: E103: unknown object 'mugs'; did you mean 'mug'?
    """
    text = text.removeprefix("\ufeff")
    tree = parse_tree(text, file=file)
    if not tree.children or all(getattr(c, "type", None) == "_NL" for c in tree.children):
        raise SceneSyntaxError("E002", span=Span(file=file, line=1, column=1), source=text,
                               what=file or "the program",
                               expected='statements such as: object cat "a cat"')
    return _SceneInterpreter(text, file, read_phrase).build(tree)


def _string(token) -> str:
    try:
        return json.loads(token.value)
    except json.JSONDecodeError:
        raise ValueError("invalid escape") from None


def _number(token) -> float:
    return float(token.value)


class _SceneInterpreter(Interpreter):
    """Visits the statements in order (a method per statement rule of the grammar, dispatched on
    the rule's name), checking each as it goes and collecting the scene's parts."""

    def __init__(self, source: str, file: str | None, read_phrase=None):
        super().__init__()
        self.hard = True  # false while visiting the relation of a ``prefer``
        self.source = source
        self.file = file
        self.read_phrase = read_phrase
        self.warnings: list[SceneWarning] = []
        self.groups: dict[str, ObjectGroup] = {}
        self.settings: dict[str, Any] = {}
        self.setting_lines: dict[str, int] = {}
        self.statements: list[RelationStatement] = []
        self.forbidden: list[Forbidden] = []
        self.requirements: list[Requirement] = []

    # --- helpers -------------------------------------------------------------------------

    def span(self, node) -> Span:
        meta = node.meta if hasattr(node, "meta") else None
        if meta is not None and not getattr(meta, "empty", True):
            return Span(file=self.file, line=meta.line, column=meta.column,
                        end_line=meta.end_line, end_column=meta.end_column,
                        start=meta.start_pos, end=meta.end_pos)
        return Span(file=self.file, line=node.line, column=node.column, end_line=node.end_line,
                    end_column=node.end_column, start=node.start_pos, end=node.end_pos)

    def error(self, code: str, node, **fields) -> SceneSemanticError:
        return SceneSemanticError(code, span=self.span(node), source=self.source, **fields)

    def string(self, token) -> str:
        try:
            return _string(token)
        except ValueError:
            raise SceneSyntaxError("E101", span=self.span(token), source=self.source,
                                   found=f"phrase {token.value} with an invalid escape",
                                   expected='escapes \\" \\\\ \\n \\t or \\uXXXX') from None

    @staticmethod
    def suggestion(word: str, choices) -> str:
        close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
        return f"; did you mean '{close[0]}'?" if close else ""

    # --- the walk ------------------------------------------------------------------------

    def build(self, tree) -> Scene:
        for stmt in tree.children:
            try:
                self.visit(stmt)
            except ValueError as exc:  # int() refuses numbers of more digits than MAX_NUMBER_DIGITS
                if "digits" not in str(exc):
                    raise
                raise self.error("E114", stmt, what="number", value="(thousands of digits)",
                                 expected="a number of at most 4300 digits") from None
        scene = Scene(objects=list(self.groups.values()), statements=self.statements,
                      forbidden=self.forbidden, requirements=self.requirements,
                      warnings=self.warnings, **self.settings)
        return scene

    def setting(self, name: str, node, value) -> None:
        if name in self.settings:
            raise self.error("E115", node, statement=name, first_line=self.setting_lines[name])
        self.settings[name] = value
        self.setting_lines[name] = node.meta.line

    def canvas(self, node) -> None:
        w, h = (int(t) for t in node.children)
        if not (8 <= w <= 16384 and 8 <= h <= 16384):
            raise self.error("E114", node, what="canvas", value=f"{w} x {h}",
                             expected="8 to 16384 pixels a side")
        self.setting("canvas", node, (w, h))

    def background(self, node) -> None:
        self.setting("background", node, self.string(node.children[0]))

    def style(self, node) -> None:
        self.setting("style", node, self.string(node.children[0]))

    def negative(self, node) -> None:
        self.setting("negative", node, self.string(node.children[0]))

    def seed(self, node) -> None:
        self.setting("seed", node, int(node.children[0]))

    def object(self, node) -> None:
        name_token, phrase_token, *options = node.children
        name = str(name_token)
        if name in KEYWORDS:  # a keyword cannot be a name everywhere one is written (`seed left of x`)
            raise self.error("E114", name_token, what="object name", value=name, expected="a name that is not a keyword")
        if name in self.groups:
            raise self.error("E104", name_token, name=name, first_line=self.groups[name].span.line)
        fields: dict[str, Any] = {"name": name, "phrase": self.string(phrase_token)}
        seen: dict[str, Any] = {}
        for option in options:
            key = "count" if option.data == "count_range" else option.data
            if key in seen:
                raise self.error("E110", option, option=key.replace("_", " "), name=name)
            seen[key] = option
            fields.update(getattr(self, f"option_{option.data}")(option, name))
        if self.read_phrase is not None:
            self.fill_from_phrase(fields, node)
        if fields.get("at") is not None:
            count = fields.get("count", 1)
            if not (isinstance(count, int) and count == 1):
                raise self.error("E114", seen["at"], what="fixed box for", value=f"{name} (count {count})",
                                 expected="count 1: one box holds one instance")
        self.groups[name] = ObjectGroup(span=self.span(node), **fields)

    def fill_from_phrase(self, fields: dict[str, Any], node) -> None:
        """Fill the fields the options leave unset from what the object's phrase says.

        Class, count, color and size are read; other words of the phrase stay in the phrase (the
        backbone reads it). An option the phrase contradicts is kept, with a warning (W101) that
        names both. A phrase naming several things ("a cat and a dog") fills nothing (W103).
        """
        name, phrase = fields["name"], fields["phrase"]
        reading = self.read_phrase(phrase)
        if reading is None:
            return
        span = self.span(node)
        if reading.things:
            self.warnings.append(SceneWarning(message=warning_text(
                "W103", name=name, phrase=phrase, things=", ".join(reading.things)), span=span))
            return
        said = {"class_name": reading.class_name, "color": reading.color, "size": reading.size}
        if reading.count is not None and fields.get("at") is None:
            said["count"] = reading.count
        for key, value in said.items():
            if value is None:
                continue
            if key not in fields:
                fields[key] = value
            elif fields[key] != value:
                self.conflict(span, name, phrase, key.replace("class_name", "class"), fields[key], value)

    def conflict(self, span: Span, name: str, phrase: str, option: str, given, read) -> None:
        def show(value) -> str:
            return f"{value.min}..{value.max}" if isinstance(value, CountRange) else str(value)

        self.warnings.append(SceneWarning(message=warning_text(
            "W101", option=option, name=name, given=show(given), phrase=phrase, read=show(read)), span=span))

    def option_count(self, node, name) -> dict:
        value = int(node.children[0])
        if not 1 <= value <= MAX_COUNT:
            reason = ("an object group needs at least one instance (use `forbid` for none)" if value == 0
                      else f"the limit is {MAX_COUNT} instances a group")
            raise self.error("E109", node, count=value, reason=reason)
        return {"count": value}

    def option_count_range(self, node, name) -> dict:
        lo, hi = (int(t) for t in node.children)
        if lo > hi:
            raise self.error("E109", node, count=f"{lo}..{hi}", reason="the range is empty (min > max)")
        if hi > MAX_COUNT or hi == 0:
            reason = f"the limit is {MAX_COUNT} instances a group" if hi else "the range allows no instance"
            raise self.error("E109", node, count=f"{lo}..{hi}", reason=reason)
        return {"count": CountRange(min=lo, max=hi) if lo != hi else lo}

    def option_color(self, node, name) -> dict:
        word = str(node.children[0])
        color = color_name(word)
        if color is None:
            raise self.error("E111", node.children[0], color=word, suggestion=self.suggestion(word, COLORS),
                             expected=", ".join(COLORS))
        return {"color": color}

    def option_size(self, node, name) -> dict:
        token = node.children[0]
        if token.type == "NAME":
            if str(token) not in SIZES:
                raise self.error("E112", token, size=str(token))
            return {"size": str(token)}
        value = _number(token)
        if not 0 < value <= 1:
            raise self.error("E112", token, size=value)
        return {"size": value}

    def option_at(self, node, name) -> dict:
        box = tuple(_number(t) for t in node.children)
        if not valid_box(box):  # type: ignore[arg-type]
            raise self.error("E108", node, box="(" + ", ".join(t.value for t in node.children) + ")")
        return {"at": box}

    def option_aspect(self, node, name) -> dict:
        value = _number(node.children[0])
        if not 0.05 <= value <= 20:
            raise self.error("E114", node, what="aspect", value=value, expected="a width / height ratio in 0.05..20")
        return {"aspect": value}

    def option_class_name(self, node, name) -> dict:
        value = " ".join(self.string(node.children[0]).lower().split())
        if not value:
            raise self.error("E114", node, what="class", value="", expected="a noun such as \"teddy bear\"")
        return {"class_name": value}

    def option_with_attributes(self, node, name) -> dict:
        attributes: dict[str, Any] = {}
        for attribute in node.children:
            key_token, value_token = attribute.children
            key = str(key_token)
            if key in attributes:
                raise self.error("E110", attribute, option=f"attribute '{key}'", name=name)
            if value_token.type == "STRING":
                value: Any = self.string(value_token)
            elif value_token.type == "NUMBER":
                value = float(value_token) if "." in value_token else int(value_token)
            elif str(value_token) in ("true", "false"):
                value = str(value_token) == "true"
            else:
                value = str(value_token)
            attributes[key] = value
        return {"attributes": attributes}

    def ref(self, node) -> Ref:
        name_token = node.children[0]
        name = str(name_token)
        group = self.groups.get(name)
        if group is None:
            raise self.error("E103", name_token, name=name, suggestion=self.suggestion(name, self.groups))
        if len(node.children) == 2:
            index = int(node.children[1])
            count = group.count
            top = count.max if isinstance(count, CountRange) else count
            if index >= top:
                raise self.error("E105", node, name=name, index=index, count=count, last=top - 1)
            return Ref(group=name, index=index, span=self.span(node))
        return Ref(group=name, span=self.span(node))

    def relation(self, node) -> None:
        subject_node, words_node, object_node, *rest = node.children
        words = " ".join(str(t) for t in words_node.children)
        spec = lookup_program_words(words)
        if spec is None:
            phrases = [p for s in RELATIONS.values() for p in s.program_words]
            raise self.error("E107", words_node, words=words, suggestion=self.suggestion(words, phrases))
        subject, obj = self.ref(subject_node), self.ref(object_node)
        self.check_distinct(node, spec.name, subject, obj)
        self.statements.append(RelationStatement(subject=subject, predicate=spec.name, objects=[obj],
                                                 hard=self.hard, weight=self.weight_of(rest), span=self.span(node)))

    def between(self, node) -> None:
        subject_node, first_node, second_node, *rest = node.children
        subject, first, second = self.ref(subject_node), self.ref(first_node), self.ref(second_node)
        self.check_distinct(node, "between", subject, first)
        self.check_distinct(node, "between", subject, second)
        self.check_distinct(node, "between", first, second)
        self.statements.append(RelationStatement(subject=subject, predicate="between",
                                                 objects=[first, second], hard=self.hard,
                                                 weight=self.weight_of(rest), span=self.span(node)))

    def prefer(self, node) -> None:
        self.hard = False
        try:
            self.visit(node.children[0])
        finally:
            self.hard = True
        self.statements[-1] = self.statements[-1].model_copy(update={"span": self.span(node)})

    def weight_of(self, rest) -> float:
        if not rest:
            return 1.0
        token = rest[0].children[0]
        value = _number(token)
        if not 0 < value <= 1000:
            raise self.error("E114", rest[0], what="weight", value=value, expected="a number in (0, 1000]")
        return value

    def check_distinct(self, node, predicate: str, a: Ref, b: Ref) -> None:
        if a.group == b.group and (a.index is None or b.index is None or a.index == b.index):
            if a.index is not None and b.index is not None:
                name = f"{a.group}[{a.index}]"
            else:
                name = a.group
                group = self.groups[a.group]
                if group.min_count > 1 or isinstance(group.count, CountRange):
                    name += " (a group; relate its instances by index, e.g. " \
                            f"{a.group}[0] {predicate.replace('_', ' ')} {a.group}[1])"
            raise self.error("E106", node, name=name, predicate=predicate.replace("_", " "))

    def forbid(self, node) -> None:
        token = node.children[0]
        name = self.string(token) if token.type == "STRING" else str(token)
        self.forbidden.append(Forbidden(name=name, span=self.span(node)))

    def require(self, node) -> None:
        target_token, op, value = node.children
        target = self.string(target_token) if target_token.type == "STRING" else str(target_token)
        self.requirements.append(Requirement(target=target, op=str(op), value=int(value), span=self.span(node)))
