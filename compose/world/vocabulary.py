"""The embedded world's words: shapes, background tones, and how phrases map to them.

Colors are :data:`compose.vocabulary.COLORS` (one home); this module adds the shapes and the
background tones, which are chosen far from every object color so that a background never hides
an object.

Examples
--------
>>> SHAPES
('circle', 'square', 'triangle', 'star', 'diamond', 'cross')
>>> shape_name("Stars"), shape_name("cube")
('star', None)
>>> phrase_to_object("a red circle")
('circle', 'red')
>>> phrase_to_object("two big grey diamonds")
('diamond', 'gray')
"""

from __future__ import annotations

import re

from compose.vocabulary import COLORS, color_name

#: The shapes the embedded world draws; a shape's class name is its singular noun.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "cross")

#: Plural and alternative spellings that mean a shape.
SHAPE_SYNONYMS: dict[str, str] = {
    "circles": "circle", "disc": "circle", "disk": "circle", "discs": "circle", "disks": "circle",
    "squares": "square", "triangles": "triangle", "stars": "star", "diamonds": "diamond",
    "rhombus": "diamond", "crosses": "cross", "plus": "cross",
}

#: Background tones (sRGB). Each is at least 80 units (Euclidean RGB) from every object color.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "mint": (180, 215, 200),
    "sky": (170, 200, 230),
    "teal": (40, 110, 120),
}

#: The tone used when a layout names no background (or one the world does not know).
DEFAULT_BACKGROUND = "mint"

#: Colors in a fixed order, for one-hot conditioning.
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)


def shape_name(word: str) -> str | None:
    """The shape a word names (singular or plural), or ``None``."""
    word = word.lower().strip()
    if word in SHAPES:
        return word
    return SHAPE_SYNONYMS.get(word)


def phrase_to_object(phrase: str) -> tuple[str | None, str | None]:
    """``(shape, color)`` named in a phrase such as ``"a red circle"``; ``None`` for a part
    the phrase does not name."""
    shape = color = None
    for word in re.findall(r"[a-zA-Z]+", phrase):
        shape = shape or shape_name(word)
        color = color or color_name(word)
    return shape, color


def background_name(text: str | None) -> str:
    """The background tone a layout's background text names, else :data:`DEFAULT_BACKGROUND`.

    >>> background_name("a teal backdrop"), background_name(None)
    ('teal', 'mint')
    """
    for word in re.findall(r"[a-zA-Z]+", (text or "").lower()):
        if word in BACKGROUNDS:
            return word
    return DEFAULT_BACKGROUND
