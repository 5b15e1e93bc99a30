"""Word tables shared by every phase: colors, sizes, counts, and the embedded world's shapes.

One home for each table: the scene language, the prompt parser, the renderers and the verifiers
all read these. The embedded world's shapes and background tones are here too.

Examples
--------
>>> COLORS["red"]
(220, 40, 40)
>>> color_name("grey")
'gray'
>>> count_word("twelve")
12
>>> shape_name("Stars"), shape_name("cube")
('star', None)
>>> phrase_to_object("two big grey diamonds")
('diamond', 'gray')
"""

from __future__ import annotations

import re

#: GenEval's ten colors plus gray, with the sRGB value the embedded world draws them in.
#: The values are far apart in RGB so that pixel statistics can tell them apart reliably.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (130, 50, 180),
    "pink": (245, 140, 200),
    "brown": (120, 70, 30),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
}

#: GenEval's color names, in GenEval's order (gray is ours, not GenEval's).
GENEVAL_COLORS: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
)

#: Spellings that mean a color in :data:`COLORS`.
COLOR_SYNONYMS: dict[str, str] = {"grey": "gray", "violet": "purple"}

#: Named sizes and the fraction of the canvas side they mean.
SIZES: dict[str, float] = {"tiny": 0.1, "small": 0.18, "medium": 0.28, "large": 0.42, "huge": 0.6}

#: Words that name a size, mapped to a key of :data:`SIZES`.
SIZE_WORDS: dict[str, str] = {
    "tiny": "tiny", "little": "small", "small": "small", "medium": "medium",
    "large": "large", "big": "large", "huge": "huge", "giant": "huge", "enormous": "huge",
}

COUNT_WORDS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20,
}

#: The largest count a group may have; larger counts are an error (E012), not a hang.
MAX_COUNT = 200


def color_name(word: str) -> str | None:
    """Return the canonical color for ``word``, or ``None`` when it names no color.

    >>> color_name("Blue"), color_name("table")
    ('blue', None)
    """
    word = word.lower()
    word = COLOR_SYNONYMS.get(word, word)
    return word if word in COLORS else None


def count_word(word: str) -> int | None:
    """Return the number a count word or digit string means, or ``None``.

    >>> count_word("3"), count_word("seven"), count_word("many")
    (3, 7, None)
    """
    word = word.lower()
    if word.isascii() and word.isdigit():  # "¹" is a digit to Python, not a number
        return int(word)
    return COUNT_WORDS.get(word)


# The embedded world's words: its shapes and background tones. They sit here, beside the colors,
# because the prompt reader, the world and the verifiers all read them.

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
