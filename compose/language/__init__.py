"""The scene language: syntax (``grammars/scene.lark``), meaning (checks into a Scene) and the
canonical formatter. Phases are kept apart: :mod:`.syntax` turns text into a parse tree or a
coded syntax error; :mod:`.semantics` turns the tree into a checked :class:`~compose.scene.Scene`;
:mod:`.formatter` prints any scene back as a program.
"""

from compose.language.formatter import format_program, format_scene
from compose.language.semantics import parse_program
from compose.language.syntax import MAX_PROGRAM_BYTES, parse_tree

__all__ = ["MAX_PROGRAM_BYTES", "format_program", "format_scene", "parse_program", "parse_tree"]
