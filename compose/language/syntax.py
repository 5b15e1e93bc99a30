"""Syntax: program text to a lark parse tree, or a coded syntax error with a position.

Errors say what was found and what was expected in words ("a quoted phrase", "a relation such
as 'left of'"), never raw terminal names, and point at file:line:col.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from compose.errors import SceneSyntaxError, UsageError
from compose.span import Span

#: Largest program the parser accepts (E003 above it): far beyond any hand-written scene.
MAX_PROGRAM_BYTES = 1_000_000

#: How expected terminals read in an error message.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted phrase ("...")',
    "INT": "a whole number",
    "NUMBER": "a number",
    "REL_WORD": "a relation such as 'left of'",
    "COMPARE": "a comparison (==, !=, >=, <=, >, <)",
    "_NL": "the end of the line",
    "$END": "the end of the input",
}


def grammar_text() -> str:
    """The scene grammar, read from the installed package (works from a wheel) or the source tree."""
    try:
        return resources.files("compose.grammars").joinpath("scene.lark").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source checkout
        return (Path(__file__).resolve().parents[2] / "grammars" / "scene.lark").read_text("utf-8")


@functools.lru_cache(maxsize=1)
def scene_parser():
    """The LALR parser for the scene language, built once per process."""
    from lark import Lark

    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_tree(text: str, file: str | None = None):
    """Parse ``text`` into a lark tree; raise :class:`SceneSyntaxError` on bad input.

    >>> parse_tree('object cat "a cat"\\n').children[0].data
    Token('RULE', 'object')
    """
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PROGRAM_BYTES:
        raise UsageError("E003", what=file or "the program", size=size, limit=MAX_PROGRAM_BYTES)
    if not text.endswith("\n"):
        text += "\n"
    parser = scene_parser()
    try:
        return parser.parse(text)
    except UnexpectedToken as exc:
        raise _token_error(exc, text, file, parser) from None
    except UnexpectedCharacters as exc:
        raise _character_error(exc, text, file, parser) from None
    except UnexpectedInput as exc:  # UnexpectedEOF and anything newer
        span = Span(file=file, line=getattr(exc, "line", None), column=getattr(exc, "column", None))
        raise SceneSyntaxError("E102", span=span, source=text,
                               expected=_expected_words(getattr(exc, "expected", []), parser)) from None


_STATEMENT_START = "a statement (object, canvas, background, style, negative, seed, prefer, forbid, require or a relation)"


def _expected_words(names, parser) -> str:
    names = set(names)
    if "OBJECT" in names or names == {"NAME", "_NL"}:  # the start of a statement
        names -= {"OBJECT", "CANVAS", "BACKGROUND", "STYLE", "NEGATIVE", "SEED", "PREFER", "FORBID",
                  "REQUIRE", "NAME"}
        return " or ".join([_STATEMENT_START] + (["the end of the line"] if "_NL" in names else []))
    words = []
    for name in sorted(set(names)):
        word = _TERMINAL_WORDS.get(name)
        if word is None:
            try:
                pattern = parser.get_terminal(name).pattern
                word = f"'{pattern.value}'" if pattern.type == "str" else name.lower()
            except KeyError:
                word = name.lower()
        if word not in words:
            words.append(word)
    # keywords first would bury the common case; names and phrases read better up front
    words.sort(key=lambda w: (w.startswith("'"), w))
    if not words:
        return "nothing more"
    if len(words) > 8:
        words = words[:8] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(token) -> str:
    if token.type == "$END":
        return "end of input"
    if token.type == "_NL":
        return "end of line"
    kind = {"NAME": "name", "STRING": "phrase", "INT": "number", "NUMBER": "number",
            "REL_WORD": "relation word", "COMPARE": "comparison"}.get(token.type, "")
    return f"{kind} '{token.value}'".strip() if kind else f"'{token.value}'"


def _token_error(exc, text: str, file: str | None, parser) -> SceneSyntaxError:
    token = exc.token
    # `accepts` runs the reductions first, so it lists only what can really follow here
    expected = _expected_words(getattr(exc, "accepts", None) or exc.expected, parser)
    if token.type == "$END":
        lines = text.splitlines() or [""]
        span = Span(file=file, line=len(lines), column=len(lines[-1]) + 1)
        return SceneSyntaxError("E102", span=span, source=text, expected=expected)
    line, column = token.line, token.column
    end_column = column + max(1, len(str(token.value).split("\n")[0]))
    if token.type == "_NL":  # point just past the last thing on the line
        end_column = column + 1
    span = Span(file=file, line=line, column=column, end_line=line, end_column=end_column)
    return SceneSyntaxError("E101", span=span, source=text, found=_describe_token(token), expected=expected)


def _character_error(exc, text: str, file: str | None, parser) -> SceneSyntaxError:
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    span = Span(file=file, line=exc.line, column=exc.column, end_line=exc.line, end_column=exc.column + 1)
    if char == '"':
        return SceneSyntaxError("E101", span=span, source=text, found="unclosed string",
                                expected='a closing " on the same line')
    shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
    allowed = _expected_words(exc.allowed or [], parser)
    return SceneSyntaxError("E101", span=span, source=text, found=f"character {shown}", expected=allowed)


def comment_tokens(text: str) -> list[tuple[int, int, str]]:
    """Every comment of a program as ``(line, column, text)``, in order.

    >>> comment_tokens('# a\\nobject x "y"  # b\\n')
    [(1, 1, '# a'), (2, 15, '# b')]
    """
    from lark import Lark

    found: list[tuple[int, int, str]] = []
    collector = Lark(grammar_text(), parser="lalr", lexer_callbacks={
        "COMMENT": lambda token: found.append((token.line, token.column, str(token).rstrip()))})
    collector.parse(text if text.endswith("\n") else text + "\n")
    return found
