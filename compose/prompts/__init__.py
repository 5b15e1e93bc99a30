"""Prompts to scenes: English prompts read into :class:`~compose.scene.Scene` values with spaCy.

>>> from compose.prompts import parse_prompt
>>> parse_prompt("a blue mug and two red mugs").objects[1].name
'mug_2'
"""

from compose.prompts.parser import MAX_PROMPT_CHARS, parse_prompt, parse_prompts

__all__ = ["MAX_PROMPT_CHARS", "parse_prompt", "parse_prompts"]
