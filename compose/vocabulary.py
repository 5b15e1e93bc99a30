"""Word tables shared by every phase: colors, sizes and counts.

One home for each table: the scene language, the prompt parser, the renderers and the verifiers
all read these. The embedded world's shapes live in :mod:`compose.world.vocabulary`.

Examples
--------
>>> COLORS["red"]
(220, 40, 40)
>>> color_name("grey")
'gray'
>>> count_word("twelve")
12
"""

from __future__ import annotations

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
