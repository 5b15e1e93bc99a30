"""Prompts to scenes: read an English prompt into the :class:`~compose.scene.Scene` a program gives.

The reading has three steps.

1. **Tokens.** spaCy splits and tags the prompt (lower-cased, so case never matters). The
   dependency parser runs only when a verb is present (see :mod:`compose.prompts.pipeline`).
2. **Items.** A left-to-right pass over the tokens, longest match first, turns them into items:
   noun phrases (determiner or quantifier, count, colors, size and other adjectives, a noun or a
   known compound class), relation phrases (every phrasing in :data:`compose.relations.RELATIONS`),
   separators, negations, pronouns, absolute positions and linking verbs. Framing words ("a photo
   of") and openings ("there is") are dropped here. Tables decide where a statistical tagger is
   unreliable: a known class is a noun whatever its tag ("a sink", "a tie", "an orange").
3. **Scene.** Items become groups, statements and forbidden things. A relation's subject is the
   noun phrase just before it (so chains read "a star above a moon above a house" as star above
   moon, moon above house), unless a verb links it: then the verb's subject from the dependency
   parse, with its conjuncts ("a cat and a dog are next to a bowl"). Later mentions ("the
   square") bind to the earlier group of their class; pronouns ("on it") to the last other one.

What cannot be understood is kept as :class:`~compose.scene.SceneWarning` on the scene.

Examples
--------
>>> scene = parse_prompt("three red apples to the left of a blue bowl")
>>> [(g.name, g.class_name, g.count, g.color) for g in scene.objects]
[('apple', 'apple', 3, 'red'), ('bowl', 'bowl', 1, 'blue')]
>>> [(s.subject.group, s.predicate, s.objects[0].group) for s in scene.statements]
[('apple', 'left_of', 'bowl')]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from compose.errors import PromptError, warning_text
from compose.prompts import lexicon as lx
from compose.prompts.pipeline import coarse_tag
from compose.relations import RELATIONS, word_vocabulary
from compose.scene import (
    CountRange,
    Forbidden,
    ObjectGroup,
    Ref,
    RelationStatement,
    Requirement,
    Scene,
    SceneWarning,
    Span,
)
from compose.vocabulary import (
    COLOR_SYNONYMS,
    COLORS,
    COUNT_WORDS,
    MAX_COUNT,
    SIZE_WORDS,
    color_name,
    count_word,
)

#: The longest prompt accepted, in characters (E202 above it).
MAX_PROMPT_CHARS = 2000

#: Count of a plural noun without a number ("apples on a table").
BARE_PLURAL_COUNT = (2, 4)

#: Relations whose object is a thing with a place in the picture: "a kite above a field" draws
#: the field; "a cat in a kitchen" only sets the scene.
_THING_RELATIONS = frozenset({"above", "below", "left_of", "right_of", "next_to", "near", "behind",
                              "in_front_of"})

#: Words that carry no content of their own: a prompt may leave them unread.
_FUNCTION_WORDS = (lx.DEFINITE | lx.INDEFINITE | lx.SEPARATORS | lx.NEUTRAL_VERBS | lx.RELATION_ADVERBS
                   | {"of", "with", "there", "here", "is", "are", "some", "any", "each", "every", "all",
                      "in", "on", "at", "to", "by", "its", "their", "his", "her", "very", "please",
                      "also", "too", "just", "only", "both", "together"})

#: Names the scene language reserves; a group named so gets a suffix.
_RESERVED_NAMES = {"canvas", "background", "style", "negative", "seed", "object", "count", "color",
                   "size", "at", "aspect", "class", "with", "prefer", "weight", "between", "and",
                   "forbid", "require", "x"}

_FINITE_TAGS = {"VBZ", "VBP", "VBD", "MD"}
_PLURAL_VERBS = {"are", "were", "'re", "sit", "stand", "lie", "rest", "float", "hang", "fly", "stay",
                 "appear", "remain"}
_NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
_HEADLESS_PRONOUNS = {"one", "ones"}
_RECIPROCALS = (("each", "other"), ("one", "another"))
_NOT_NOUNS = (set(COUNT_WORDS) | lx.SEPARATORS | lx.DEFINITE | lx.INDEFINITE | lx.PRONOUNS
              | {"no", "not", "any", "some", "all", "each", "every", "of", "there", "here", "is",
                 "are", "be", "which", "who", "whose", "what", "where", "other", "another"})


def _relation_phrases() -> dict[tuple[str, ...], str]:
    phrases: dict[tuple[str, ...], str] = {}
    for spec in RELATIONS.values():  # program words first, as lookup_words reads them
        for words in spec.program_words:
            phrases.setdefault(tuple(words.split()), spec.name)
    for spec in RELATIONS.values():
        for words in spec.words:
            phrases.setdefault(tuple(words.split()), spec.name)
    for spec in RELATIONS.values():
        for words in spec.all_words:
            for variant in lx.relation_variants(words):
                phrases.setdefault(tuple(variant.split()), spec.name)
    for words, name in lx.EXTRA_RELATION_PHRASES.items():
        if name in RELATIONS:
            phrases.setdefault(tuple(words.split()), name)
    return phrases


#: Every phrasing of every relation, as word tuples, mapped to the relation's name.
RELATION_PHRASES = _relation_phrases()
_RELATION_WORDS = word_vocabulary()
_MAX_REL = max(len(p) for p in RELATION_PHRASES)
_MAX_QUANT = max(len(p) for p in lx.QUANTIFIERS)
_MAX_NEG = max(len(p) for p in lx.NEGATIONS)
_MAX_ABS = max(len(p) for p in lx.ABSOLUTE_POSITIONS)


# --- step 1: tokens ----------------------------------------------------------------------------


@dataclass
class Word:
    """One token: lower-cased text, tags and character offsets into the prompt."""

    text: str
    pos: str
    tag: str
    start: int
    end: int
    index: int  # the spaCy token index, to reach the dependency parse


def _lower_keeping_offsets(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def check_prompt(text: object) -> str:
    """The prompt, checked: a non-empty string within :data:`MAX_PROMPT_CHARS`.

    >>> check_prompt("  a cat ")
    '  a cat '
    """
    if text is None:
        raise PromptError("E201")
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a str, got {type(text).__name__}")
    if not text.strip():
        raise PromptError("E201")
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError("E202", size=len(text), limit=MAX_PROMPT_CHARS)
    return text


# --- step 2: items -------------------------------------------------------------------------------


@dataclass
class NounPhrase:
    start: int  # word positions, end exclusive
    end: int
    head: str = ""  # the class (singular), or "" for a pronoun / headless phrase
    written_head: str = ""
    known: bool = False  # the head is a class of the tables
    count: int | tuple[int, int] | None = None
    definite: bool = False
    indefinite: bool = False
    plural: bool = False
    color: str | None = None
    extra_colors: list[str] = field(default_factory=list)
    size: str | None = None
    material: str | None = None
    tone: str | None = None  # a color outside the palette ("beige")
    shape: str | None = None
    adjectives: list[str] = field(default_factory=list)
    kind: str | None = None  # compound modifiers of a known class ("police" car)
    possessive: bool = False  # "his dog": a new thing, like "a dog"
    negated: bool = False
    neg_start: int | None = None
    pronoun: bool = False  # "it", "them"
    one: bool = False  # "a blue one": the class of an earlier phrase
    resolved: str | None = None  # group name once placed in the scene
    role: str = "object"  # object, forbidden, background


@dataclass
class RelationPhrase:
    start: int
    end: int
    name: str
    negated: bool = False
    reciprocal: bool = False  # "side by side": among the phrases before it


@dataclass
class Separator:
    start: int
    word: str


@dataclass
class Link:
    start: int
    word: Word


@dataclass
class PredicateAdjective:
    start: int
    word: Word
    color: str | None = None
    size: str | None = None


@dataclass
class Position:
    start: int
    end: int
    where: str


@dataclass
class Dropped:
    start: int
    end: int
    why: str


Item = NounPhrase | RelationPhrase | Separator | Link | PredicateAdjective | Position | Dropped


class _Reader:
    """Reads one tagged prompt into a :class:`Scene`."""

    def __init__(self, text: str, doc, parse=None) -> None:
        self.text = text
        self.doc = doc
        self.words = [Word(t.text, coarse_tag(t.tag_, t.text), t.tag_, t.idx, t.idx + len(t.text), t.i)
                      for t in doc if not t.is_space]
        self.w = [x.text for x in self.words]
        self.parse = parse  # a parsed Doc, or None
        self.verbs: set[int] = set()  # word positions tagged nouns but read as verbs
        self._relations: dict[int, tuple[int, str] | None] = {}
        self._classes: dict[int, tuple[int, str] | None] = {}
        self.warnings: list[SceneWarning] = []
        self.consumed: set[int] = set()  # word positions read into no span (framing, settings)
        self.style: list[str] = []
        self.background: list[str] = []

    # -- helpers --------------------------------------------------------------------------------

    def span(self, start: int, end: int) -> Span:
        a, b = self.words[start].start, self.words[end - 1].end
        return Span(text=self.text[a:b], start=a, end=b)

    def chars(self, start: int, end: int) -> str:
        return self.text[self.words[start].start:self.words[end - 1].end]

    def warn(self, code: str, start: int | None = None, end: int | None = None, **fields) -> None:
        """Keep warning ``code`` (:class:`compose.errors.Warnings`) on words ``start:end``.

        ``words`` defaults to the words warned about.
        """
        span = self.span(start, end) if start is not None and end is not None and end > start else None
        if span is not None:
            fields.setdefault("words", span.text)
        self.warnings.append(SceneWarning(message=warning_text(code, **fields), span=span))

    def match(self, i: int, table, longest: int) -> tuple[int, object] | None:
        """Longest phrase of ``table`` (word tuples) starting at word ``i``: (length, value)."""
        for n in range(min(longest, len(self.w) - i), 0, -1):
            key = tuple(self.w[i:i + n])
            if key in table:
                return n, table[key]
        return None

    def relation_at(self, i: int) -> tuple[int, str] | None:
        if i in self._relations:
            return self._relations[i]
        found = self.match(i, RELATION_PHRASES, _MAX_REL)
        if found is not None:
            absolute = self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS)
            if absolute is not None and absolute[0] >= found[0]:
                found = None
        self._relations[i] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def class_at(self, i: int) -> tuple[int, str] | None:
        if i not in self._classes:
            self._classes[i] = self.match(i, _CLASS_TABLE, lx.MAX_CLASS_WORDS)  # type: ignore[assignment]
        return self._classes[i]

    def nounish(self, i: int) -> bool:
        """Whether word ``i`` can be (part of) a noun: a known class, or tagged a noun."""
        if i >= len(self.w):
            return False
        if self.relation_at(i) or self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS) \
                or self.match(i, lx.ARRANGEMENTS, 4):
            return False
        if self.class_at(i):
            return True
        word = self.words[i]
        if word.text in _NOT_NOUNS or not re.search(r"\w", word.text) or word.text.isdigit():
            return False
        if i in self.verbs:
            return False
        if self.parse is not None and any(  # "an umbrella walks": a verb the tagger took for a noun
                c.dep_ in ("nsubj", "nsubjpass") for c in self.parse[word.index].children):
            return False
        if color_name(word.text) or word.text in SIZE_WORDS:
            return False
        return word.tag in _NOUN_TAGS or word.pos in ("NOUN", "PROPN")

    def ends_phrase(self, i: int) -> bool:
        """Whether a noun phrase ends before word ``i``: the end, a separator, a relation."""
        if i >= len(self.w):
            return True
        word = self.w[i]
        return word in lx.SEPARATORS or word in ("without", "no", "near", "by") \
            or bool(self.relation_at(i)) or self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS) is not None \
            or word in lx.NEUTRAL_VERBS or word in ("has", "have", "holding", "wearing")

    def forced_head(self, i: int, start: int) -> bool:
        """Whether word ``i`` is the noun of a phrase begun at ``start`` whatever its tag.

        A word after a determiner or modifier that ends the phrase is its noun: "a red rose"
        (tagged a verb), "an orange acorn" (tagged an adjective), "a yellow violet" (a color).
        """
        if i >= len(self.w) or i <= start:
            return False
        word = self.w[i]
        if not re.fullmatch(r"[a-z][a-z'\-]*", word) or word in _NOT_NOUNS or word in SIZE_WORDS \
                or word in lx.PRONOUNS or word in lx.NEUTRAL_VERBS or word in lx.MATERIALS \
                or word in lx.RELATION_ADVERBS or self.relation_at(i) \
                or self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS) is not None:
            return False
        if (color_name(word) or word in lx.EXTRA_COLORS) and word not in lx.COLOR_NOUNS:
            return False
        if word.endswith("ing") and self.words[i].tag == "VBG":
            return False
        previous = self.w[i - 1]
        if not (previous in ("a", "an", "the", "another", "this", "that") or count_word(previous) is not None
                or color_name(previous) or previous in lx.EXTRA_COLORS or previous in SIZE_WORDS
                or previous in lx.MATERIALS or self.words[i - 1].tag in ("JJ", "JJR", "JJS")):
            return False
        return self.ends_phrase(i + 1)

    # -- step 2 ---------------------------------------------------------------------------------

    def items(self) -> list[Item]:
        out: list[Item] = []
        i, n = 0, len(self.w)
        negation: int | None = None  # word position of a pending "no"
        while i < n:
            word = self.words[i]
            at_clause_start = not out or isinstance(out[-1], Separator)
            if at_clause_start:
                skip = self.opening(i) or self.framing(i)
                if skip:
                    self.consumed.update(range(i, i + skip))
                    i += skip
                    continue
            nobody = self.match(i, lx.NEGATED_PRONOUNS, 2)
            if nobody is not None:
                out.append(NounPhrase(i, i + nobody[0], head=nobody[1], written_head=self.chars(  # type: ignore[arg-type]
                    i, i + nobody[0]), known=True, negated=True, neg_start=negation))
                negation = None
                i += nobody[0]
                continue
            arrangement = self.match(i, lx.ARRANGEMENTS, 4)
            if arrangement is not None:
                if arrangement[1]:
                    out.append(RelationPhrase(i, i + arrangement[0], arrangement[1],  # type: ignore[arg-type]
                                              reciprocal=True))
                else:
                    out.append(Dropped(i, i + arrangement[0], "an arrangement that is not a relation"))
                i += arrangement[0]
                continue
            rel = self.relation_at(i)
            if rel is not None:
                for k in range(1, rel[0]):  # "resting on top of": a later phrase reaching further
                    later = self.relation_at(i + k)
                    if later is not None and k + later[0] > rel[0]:
                        out.extend(Link(i + m, self.words[i + m]) for m in range(k))
                        i += k
                        rel = later
                        break
                out.append(RelationPhrase(i, i + rel[0], rel[1], negated=negation is not None))
                if negation is not None:
                    negation = None
                i += rel[0]
                continue
            absolute = self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS)
            if absolute is not None:
                out.append(Position(i, i + absolute[0], absolute[1]))  # type: ignore[arg-type]
                i += absolute[0]
                continue
            neg = self.match(i, {k: True for k in lx.NEGATIONS}, _MAX_NEG)
            if neg is not None and not (self.w[i] == "nor" and negation is None and
                                        not any(isinstance(x, NounPhrase) and x.negated for x in out[-3:])):
                negation = i
                i += neg[0]
                continue
            if word.text == "not" and i + 1 < n and self.relation_at(i + 1):
                negation = i
                i += 1
                continue
            if word.text in lx.SEPARATORS and not self.quantifier_at(i):
                if word.text in ("or", "nor", ",") and negation is None and out and \
                        isinstance(out[-1], NounPhrase) and out[-1].negated and self.nounish_ahead(i + 1):
                    negation = i  # "no cats or dogs": the negation reaches across "or"
                    out.append(Separator(i, word.text))
                    i += 1
                    continue
                out.append(Separator(i, word.text))
                i += 1
                continue
            if negation is not None and word.text == "one" and not self.nounish_ahead_modified(i + 1):
                out.append(NounPhrase(i, i + 1, head="person", written_head="one", known=True,  # "with no one"
                                      negated=True, neg_start=negation))
                negation = None
                i += 1
                continue
            if word.text in lx.PRONOUNS:
                out.append(NounPhrase(i, i + 1, pronoun=True, plural=word.text != "it"))
                i += 1
                continue
            if word.tag in ("VBG", "VBN") and out and isinstance(out[-1], NounPhrase) and \
                    word.text not in lx.MATERIALS:
                out.append(Link(i, word))  # "a corgi wearing sunglasses": a verb, not an adjective
                i += 1
                continue
            np_ = self.noun_phrase(i)
            if np_ is not None and not np_.head and not np_.one and out and isinstance(out[-1], Link):
                for k in range(np_.start, np_.end):  # "the car is red": adjectives, not a phrase
                    w = self.words[k]
                    if re.search(r"\w", w.text) and w.text not in ("and", "or"):
                        out.append(PredicateAdjective(k, w, color_name(w.text), SIZE_WORDS.get(w.text)))
                i = np_.end
                continue
            if np_ is not None and not np_.head and not np_.one and np_.adjectives and \
                    self.w[np_.end - 1] == np_.adjectives[-1] and not self.shared_head_follows(np_.end):
                last = self.w[np_.end - 1]  # "a golden retriever": a noun the tagger took for an adjective
                np_.adjectives.pop()
                np_.head, np_.written_head = lx.singular(last), last
                np_.plural = lx.singular(last) != last and self.words[np_.end - 1].tag == "NNS"
            if np_ is not None:
                if negation is not None:
                    np_.negated, np_.neg_start = True, negation
                    negation = None
                out.append(np_)
                i = np_.end
                continue
            if word.pos in ("VERB", "AUX", "ADV", "PART") or word.text in lx.NEUTRAL_VERBS or i in self.verbs \
                    or word.text in lx.RELATION_ADVERBS:
                out.append(Link(i, word))
                i += 1
                continue
            if (color_name(word.text) or word.text in SIZE_WORDS or word.pos == "ADJ") and out and \
                    isinstance(out[-1], (Link, PredicateAdjective, Separator, RelationPhrase)):
                out.append(PredicateAdjective(i, word, color_name(word.text), SIZE_WORDS.get(word.text)))
                i += 1
                continue
            if re.search(r"\w", word.text) and word.text not in ("a", "an", "the", "of", "any"):
                out.append(Dropped(i, i + 1, "not understood"))
            i += 1
        return out

    def shared_head_follows(self, i: int) -> bool:
        """Whether "and a blue cube" follows: "a red and a blue cube" share their noun."""
        if i + 1 >= len(self.w) or self.w[i] not in ("and", ",", "or"):
            return False
        return self.w[i + 1] in ("a", "an", "the", "one") or count_word(self.w[i + 1]) is not None \
            or self.is_modifier(i + 1)

    def nounish_ahead(self, i: int) -> bool:
        while i < len(self.w) and (self.w[i] in ("a", "an", "any") or color_name(self.w[i])):
            i += 1
        return self.nounish(i)

    def quantifier_at(self, i: int) -> bool:
        return self.match(i, lx.QUANTIFIERS, _MAX_QUANT) is not None

    def opening(self, i: int) -> int:
        found = self.match(i, {k: True for k in lx.OPENINGS}, 3)
        return found[0] if found else 0

    def framing(self, i: int) -> int:
        """Length of "a (black and white) photo of" at ``i``, or 0; art framings set the style."""
        j = i
        if j < len(self.w) and self.w[j] in ("a", "an", "the", "this"):
            j += 1
        for k in range(j, min(j + 6, len(self.w))):
            word = self.w[k]
            if word in lx.FRAMING_NOUNS or (word.endswith("s") and word[:-1] in lx.FRAMING_NOUNS):
                if self.match(k + 1, {key: True for key in lx.NEGATIONS}, _MAX_NEG) is not None:
                    if not (k == j and word in lx.PLAIN_FRAMING_NOUNS):  # "a scene without dogs"
                        self.style.append(self.chars(j, k + 1))
                    return k + 1 - i
                for link in lx.FRAMING_LINKS:
                    if tuple(self.w[k + 1:k + 1 + len(link)]) == link:
                        if not (k == j and word in lx.PLAIN_FRAMING_NOUNS):
                            self.style.append(self.chars(j, k + 1))
                        return k + 1 + len(link) - i
                continue
            if self.relation_at(k) or self.class_at(k) or self.w[k] in lx.SEPARATORS - {"and", "-"} \
                    or count_word(word) is not None or self.words[k].pos in ("ADP", "DET", "PRON"):
                return 0
        return 0

    def noun_phrase(self, i: int) -> NounPhrase | None:
        n = len(self.w)
        np_ = NounPhrase(i, i)
        j = i
        quant = self.match(j, lx.QUANTIFIERS, _MAX_QUANT)
        if quant is not None:
            np_.count = quant[1]  # type: ignore[assignment]
            j += quant[0]
        elif self.w[j] in lx.DEFINITE:
            np_.definite = True
            j += 1
        elif self.w[j] in lx.POSSESSIVES and j + 1 < n and self.w[j + 1] not in lx.SEPARATORS:
            np_.possessive = True
            j += 1
        elif self.w[j] in ("a", "an", "another"):
            np_.indefinite = True
            j += 1
            quant = self.match(j, lx.QUANTIFIERS, _MAX_QUANT)  # "a few" is in the table; "an only"
            if quant is not None:
                np_.count = quant[1]  # type: ignore[assignment]
                j += quant[0]
        elif self.w[j] in ("any", "each", "every", "all"):
            j += 1
        if j < n and self.w[j] == "other":
            j += 1  # "no other cars", "the other cube"
        if j < n and np_.count is None:
            number = count_word(self.w[j])
            described = j + 1 < n and bool(color_name(self.w[j + 1]) or self.w[j + 1] in SIZE_WORDS)
            if number is not None and not (self.w[j] == "one" and not described
                                           and not self.nounish_ahead_modified(j + 1)):
                np_.count = number
                j += 1
                if j + 1 < n and self.w[j] == "of" and self.w[j + 1] in ("the", "these", "those"):
                    j += 2  # "two of the cats"
                    np_.definite = True
        pairs = False
        if j + 1 < n and self.w[j] in ("pair", "pairs") and self.w[j + 1] == "of":
            pairs = True  # "two pairs of shoes" are four shoes, "a pair of scissors" one
            j += 2
        # modifiers
        while j < n:
            word = self.w[j]
            if word in lx.COLOR_NOUNS and j > i and self.forced_head(j, i) and not self.class_at(j):
                break  # "a yellow violet": the flower
            if word in lx.EXTRA_COLORS and not self.forced_head(j, i):
                np_.tone = np_.tone or word
                j += 1
                continue
            if self.class_at(j) and not ((color_name(word) or word in lx.SHAPE_ADJECTIVES)
                                         and self.modifier_then_noun(j + 1)):
                break
            if word in lx.SHAPE_ADJECTIVES and self.modifier_then_noun(j + 1):
                np_.shape = np_.shape or word  # "a square rug", "a round table"
                j += 1
                continue
            color = color_name(word)
            if color is not None:
                if np_.color is None:
                    np_.color = color
                elif color != np_.color:
                    np_.extra_colors.append(color)
                j += 1
                continue
            if word in SIZE_WORDS:
                np_.size = np_.size or SIZE_WORDS[word]
                j += 1
                continue
            if word in ("and", ",", "-", "&") and j > np_.start and j + 1 < n and np_.color and \
                    color_name(self.w[j + 1]) and self.modifier_then_noun(j + 1):
                j += 1  # "an orange and white cat"
                continue
            if word in ("and", ",", "-", "&") and j > np_.start and j + 1 < n and \
                    (np_.color or np_.size or np_.adjectives or np_.material) and \
                    self.is_modifier(j + 1) and not self.starts_noun_phrase(j + 1):
                j += 1
                continue
            if j > i and not self.class_at(j) and self.forced_head(j, i):
                break  # "six geese and eight lemons": tagged an adjective, it ends the phrase
            if self.is_modifier(j) and not (self.nounish(j) and not self.modifier_then_noun(j + 1)):
                if word in lx.MATERIALS:
                    np_.material = np_.material or word
                else:
                    np_.adjectives.append(word)
                j += 1
                continue
            break
        # the noun (compound nouns and known compound classes)
        units: list[tuple[int, int, str, bool]] = []  # start, end, class-or-word, known
        while j < n and (self.nounish(j) or (not units and self.forced_head(j, i))):
            known = self.class_at(j)
            if units and known is None and np_.indefinite and np_.count is None and \
                    self.words[j].tag == "NNS" and lx.singular(self.w[j]) != self.w[j]:
                self.verbs.add(j)  # "an umbrella walks": a plural after "an" is a verb
                break
            if known is not None:
                units.append((j, j + known[0], known[1], True))
                j += known[0]
            else:
                units.append((j, j + 1, self.w[j], False))
                j += 1
        if units:
            first, last = units[0], units[-1]
            head_start, head_end, head, known = last
            np_.written_head = self.chars(head_start, head_end).lower()
            np_.known = known
            if known:
                np_.head = head
                if len(units) > 1:
                    np_.kind = self.chars(first[0], last[0]).lower()
            else:
                np_.head = " ".join([*(self.chars(u[0], u[1]).lower() for u in units[:-1]),
                                     lx.singular(head)])
            np_.plural = self.is_plural(head_start, head_end, np_.written_head)
            # "a cup of coffee": what the container holds stays in the phrase
            if j + 1 < n and self.w[j] == "of" and not self.relation_at(j) and \
                    (self.nounish(j + 1) or self.w[j + 1] in ("a", "an", "the")):
                k = j + 1 + (self.w[j + 1] in ("a", "an", "the"))
                while k < n and (self.is_modifier(k) or color_name(self.w[k])) and not self.nounish(k):
                    k += 1
                if k < n and self.nounish(k):
                    while k < n and self.nounish(k):
                        k += 1
                    j = k
        elif j < n and self.w[j] in _HEADLESS_PRONOUNS and j > i:
            np_.one = True
            np_.plural = self.w[j] == "ones"
            j += 1
        elif j == i:
            return None
        if pairs:
            number = np_.count if isinstance(np_.count, int) else 1
            if np_.head in lx.PAIR_NOUNS:
                np_.count, np_.plural = number, number > 1
            else:
                np_.count, np_.plural = 2 * number, True
        if not (np_.head or np_.one or np_.color or np_.size or np_.material or np_.adjectives
                or np_.tone or np_.count is not None):
            return None
        np_.end = j
        if j == i:
            return None
        return np_

    def nounish_ahead_modified(self, i: int) -> bool:
        """Whether a noun follows after modifiers ("one red car"): "one" is then a count.

        Colors may be joined ("an orange and white cat").
        """
        while i < len(self.w):
            if i > 0 and (color_name(self.w[i - 1]) or count_word(self.w[i - 1]) is not None) \
                    and self.forced_head(i, i - 1):
                return True  # "an orange acorn": the tagger's adjective ends the phrase
            if (self.is_modifier(i) or color_name(self.w[i]) or self.w[i] in SIZE_WORDS) \
                    and not self.nounish(i) or self.w[i] in ("and", ",", "-", "&") and i + 1 < len(self.w) and color_name(self.w[i + 1]):
                i += 1
            elif color_name(self.w[i]) and self.nounish_ahead_color(i + 1):
                i += 1  # "orange" is a class, but "orange and white" are colors
            else:
                break
        return self.nounish(i) or (i > 0 and bool(color_name(self.w[i - 1])) and self.forced_head(i, i - 1))

    def nounish_ahead_color(self, i: int) -> bool:
        return i + 1 < len(self.w) and self.w[i] in ("and", ",", "-", "&") and bool(color_name(self.w[i + 1]))

    def modifier_then_noun(self, i: int) -> bool:
        """Whether a noun follows word ``i`` after modifiers: the word before is a modifier."""
        return self.nounish_ahead_modified(i)

    def starts_noun_phrase(self, i: int) -> bool:
        return self.w[i] in ("a", "an", "the") or count_word(self.w[i]) is not None

    def is_modifier(self, i: int) -> bool:
        if i >= len(self.w):
            return False
        word = self.words[i]
        if word.text in _NOT_NOUNS or self.relation_at(i) or word.text in lx.NEUTRAL_VERBS:
            return False
        if color_name(word.text) or word.text in SIZE_WORDS or word.text in lx.MATERIALS \
                or word.text in lx.SHAPE_ADJECTIVES:
            return True
        if word.pos == "ADJ" or word.tag in ("JJ", "JJR", "JJS"):
            return True
        # "a sleeping cat", "a parked car": a participle right before a noun
        return word.tag in ("VBG", "VBN") and self.nounish(i + 1)

    def is_plural(self, start: int, end: int, written: str) -> bool:
        if written in ("skis", "scissors", "sheep", "glasses", "broccoli", "fish", "deer"):
            return self.words[end - 1].tag == "NNS" and written not in ("skis", "scissors")
        if written in _CLASS_TABLE and _CLASS_TABLE[written] != written:
            return lx.CLASS_SYNONYMS.get(written) is None or written in ("people", "persons") \
                or self.words[end - 1].tag == "NNS"  # "discs"; "sofa" is singular
        if written in lx.IRREGULAR_PLURALS and lx.IRREGULAR_PLURALS[written] != written:
            return True
        return self.words[end - 1].tag in ("NNS", "NNPS") and lx.singular(written) != written

    # -- step 3 ---------------------------------------------------------------------------------

    def scene(self) -> Scene:
        items = self.items()
        builder = _SceneBuilder(self, items)
        return builder.build()


_CLASS_TABLE: dict[tuple[str, ...] | str, str] = {}
for _phrase, _cls in lx.CLASS_PHRASES.items():
    _CLASS_TABLE[tuple(_phrase.split())] = _cls
    _CLASS_TABLE[_phrase] = _cls
for _noun in lx.SETTING_NOUNS:
    _CLASS_TABLE.setdefault(tuple(_noun.split()), _noun)
for _noun in ("living room", "parking lot"):
    for _form in lx.plural_forms(_noun):
        _CLASS_TABLE.setdefault(tuple(_form.split()), _noun)


@dataclass
class _Group:
    name: str
    class_name: str
    phrase: str
    span: Span
    count: int | CountRange = 1
    color: str | None = None
    size: str | None = None
    attributes: dict = field(default_factory=dict)
    presupposed: bool = False  # first named with "the": a later "a ..." introduces it


class _SceneBuilder:
    """Step 3: items to groups, statements and forbidden things."""

    def __init__(self, reader: _Reader, items: list[Item]) -> None:
        self.r = reader
        self.items = items
        self.groups: dict[str, _Group] = {}
        self.statements: list[RelationStatement] = []
        self.statement_keys: set[tuple] = set()
        self.parts: dict[str, list[str]] = {}  # a group split into parts: its name -> part names
        self.forbidden: list[Forbidden] = []
        self.requirements: list[Requirement] = []
        self.hints: dict[str, list[tuple[str, Span]]] = {}
        self.last_class: NounPhrase | None = None
        self.relation_object: str | None = None  # the relation whose object is being placed

    # -- groups ---------------------------------------------------------------------------------

    def new_name(self, class_name: str) -> str:
        base = re.sub(r"\W+", "_", class_name.lower()).strip("_") or "thing"
        if base[0].isdigit():
            base = f"object_{base}"
        if base in _RESERVED_NAMES or base in _RELATION_WORDS:
            base = f"{base}_object"
        name, k = base, 1
        while name in self.groups:
            k += 1
            name = f"{base}_{k}"
        return name

    def count_of(self, np_: NounPhrase) -> int | CountRange:
        count = np_.count
        if count is None:
            count = BARE_PLURAL_COUNT if np_.plural and not np_.indefinite else 1
        if isinstance(count, tuple):
            return CountRange(min=count[0], max=count[1])
        if count > MAX_COUNT:
            self.r.warn("W207", np_.start, np_.end, count=count, limit=MAX_COUNT)
            return MAX_COUNT
        return count

    def place(self, np_: NounPhrase, exclude: Sequence[str] = ()) -> str | None:
        """The group ``np_`` names: an earlier group it refers to, or a new one."""
        r = self.r
        if np_.pronoun:
            for name in reversed(list(self.groups)):
                if name not in exclude:
                    np_.resolved = name
                    return name
            r.warn("W208", np_.start, np_.end)
            return None
        if np_.one:
            if self.last_class is None:
                r.warn("W203", np_.start, np_.end)
                return None
            np_.head, np_.known = self.last_class.head, self.last_class.known
            np_.written_head = self.last_class.written_head
        if not np_.head:
            r.warn("W203", np_.start, np_.end)
            return None
        if np_.count == 0:
            np_.negated = True
        if np_.negated:
            start = np_.neg_start if np_.neg_start is not None else np_.start
            present = [g for g in self.groups.values() if g.class_name == np_.head]
            if present:  # "a car on a street with no other cars": exactly the cars named
                counts = [g.count for g in present]
                if all(isinstance(c, int) for c in counts) and not any(
                        q.target == np_.head for q in self.requirements):
                    self.requirements.append(Requirement(target=np_.head, op="==", value=sum(counts),  # type: ignore[arg-type]
                                                         span=r.span(start, np_.end)))
            elif not any(f.name == np_.head for f in self.forbidden):
                self.forbidden.append(Forbidden(name=np_.head, span=r.span(start, np_.end)))
            np_.role = "forbidden"
            return None
        if np_.head in lx.FRAMING_NOUNS and np_.definite and not np_.known:
            np_.role = "framing"  # "in this picture"
            r.consumed.update(range(np_.start, np_.end))
            return None
        if np_.head in lx.SETTING_NOUNS and not (  # "above a green field": a described thing
                self.relation_object in _THING_RELATIONS and np_.head not in lx.SETTING_ONLY
                and np_.indefinite and (np_.color or np_.tone or np_.size or np_.adjectives)):
            phrase = r.chars(np_.start, np_.end)
            if phrase not in r.background:
                r.background.append(phrase)
            np_.role = "background"
            r.consumed.update(range(np_.start, np_.end))
            return None
        self.last_class = np_
        if (np_.definite or (np_.count is None and not np_.indefinite and not np_.possessive)) \
                and not np_.one:
            found = self.earlier(np_)
            if found is not None:
                self.refine(found, np_)
                np_.resolved = found
                return found
        elif not np_.one:
            # "the square is above the circle. a square and a circle": introduced after use
            found = self.earlier(np_, presupposed=True)
            if found is not None:
                self.groups[found].presupposed = False
                self.refine(found, np_)
                np_.resolved = found
                return found
        name = self.declare(np_)
        self.groups[name].presupposed = np_.definite
        return name

    def earlier(self, np_: NounPhrase, presupposed: bool = False) -> str | None:
        candidates = [g for g in self.groups.values() if g.class_name == np_.head
                      and (g.presupposed or not presupposed)]
        if presupposed:
            count = self.count_of(np_)
            candidates = [g for g in candidates if g.count == count
                          and (g.color == np_.color or np_.color is None)]
        if np_.color is not None:
            same = [g for g in candidates if g.color in (None, np_.color)]
            candidates = same
        if np_.count is not None and not isinstance(np_.count, tuple):
            same = [g for g in candidates if g.count == np_.count]
            candidates = same or candidates
        return candidates[-1].name if candidates else None

    def refine(self, name: str, np_: NounPhrase) -> None:
        group = self.groups[name]
        if group.color is None and np_.color is not None:
            group.color = np_.color
        if group.size is None and np_.size is not None:
            group.size = np_.size
        for key, value in self.attributes(np_).items():
            group.attributes.setdefault(key, value)

    def attributes(self, np_: NounPhrase) -> dict:
        out: dict = {}
        if np_.material:
            out["material"] = np_.material
        if np_.tone and np_.color is None:
            out["color"] = np_.tone
            self.r.warn("W204", np_.start, np_.end, color=np_.tone)
        if np_.adjectives:
            out["adjectives"] = " ".join(np_.adjectives)
        if np_.kind:
            out["kind"] = np_.kind
        if np_.shape:
            out["shape"] = np_.shape
        if np_.extra_colors:
            out["other_colors"] = " ".join(np_.extra_colors)
            self.r.warn("W205", np_.start, np_.end, color=np_.color, others=", ".join(np_.extra_colors))
        return out

    def declare(self, np_: NounPhrase) -> str:
        name = self.new_name(np_.head)
        span = self.r.span(np_.start, np_.end)
        self.groups[name] = _Group(name=name, class_name=np_.head, phrase=span.text or np_.head,
                                   span=span, count=self.count_of(np_), color=np_.color,
                                   size=np_.size, attributes=self.attributes(np_))
        np_.resolved = name
        return name

    # -- statements -----------------------------------------------------------------------------

    def relate(self, subjects: list[NounPhrase], rel: RelationPhrase, objects: list[Ref | None],
               obj_nps: list[NounPhrase]) -> None:
        r = self.r
        if rel.negated:
            r.warn("W217", rel.start, rel.end)
            return
        if any(o is None for o in objects):
            roles = {o.role for o in obj_nps if o.resolved is None}
            if not roles & {"background", "framing", "forbidden"}:
                r.warn("W213", rel.start, rel.end)
            return
        for subject in subjects:
            if subject.resolved is None:
                if subject.role not in ("background", "framing", "forbidden"):
                    r.warn("W214", rel.start, rel.end)
                continue
            refs = [o for o in objects if o is not None]
            if len(refs) != RELATIONS[rel.name].arity:
                r.warn("W215", rel.start, rel.end, arity=RELATIONS[rel.name].arity, found=len(refs))
                continue
            # a group split by "one black and one white" relates through every part
            object_sets = [refs] if len(refs) != 1 or refs[0].index is not None else \
                [[Ref(group=name)] for name in self.parts.get(refs[0].group, [refs[0].group])]
            for name in self.parts.get(subject.resolved, [subject.resolved]):
                for object_refs in object_sets:
                    if not _distinct([Ref(group=name), *object_refs]):
                        r.warn("W216", rel.start, rel.end, name=name)
                        continue
                    statement = RelationStatement(subject=Ref(group=name), predicate=rel.name,
                                                  objects=object_refs,
                                                  span=self.statement_span(subject, rel, obj_nps))
                    key = (name, statement.predicate, tuple(map(str, object_refs)))
                    if key not in self.statement_keys:
                        self.statement_keys.add(key)
                        self.statements.append(statement)

    def statement_span(self, subject: NounPhrase, rel: RelationPhrase, objects: list[NounPhrase]) -> Span:
        positions = [subject.start, subject.end, rel.start, rel.end] + \
                    [p for o in objects for p in (o.start, o.end)]
        return self.r.span(min(positions), max(positions))

    def ref_pair(self, np_: NounPhrase) -> list[Ref] | None:
        """``[x[0], x[1]]`` for a group of exactly two ("between two trees"), else ``None``."""
        if np_.resolved is None:
            return None
        group = self.groups[np_.resolved]
        if group.count != 2:
            return None
        return [Ref(group=group.name, index=0), Ref(group=group.name, index=1)]

    def ref(self, np_: NounPhrase) -> Ref | None:
        return None if np_.resolved is None else Ref(group=np_.resolved)

    def phrase_of(self, token_index: int, before: list[NounPhrase]) -> NounPhrase | None:
        for np_ in before:
            if self.r.words[np_.start].index <= token_index <= self.r.words[np_.end - 1].index:
                return np_
        return None

    def governor_subjects(self, rel: RelationPhrase, before: list[NounPhrase]) -> list[NounPhrase] | None:
        """What a relation phrase attaches to in the dependency parse, as noun phrases before it.

        A phrase attached to a noun ("a moon above a house") has that noun's phrase as subject;
        one attached to a verb ("sitting on", "is next to") has the verb's subject, or the noun
        the verb describes ("a car parked next to"). ``None`` when the parse says nothing usable.
        """
        doc = self.r.parse
        if doc is None:
            return None
        first, last = self.r.words[rel.start].index, self.r.words[rel.end - 1].index
        governor = None
        for t in doc[first:last + 1]:
            if not first <= t.head.i <= last:
                governor = t.head
                break
        if governor is None or governor.i > first:
            return None
        np_ = self.phrase_of(governor.i, before)
        if np_ is not None:
            return [np_]
        if coarse_tag(governor.tag_, governor.text) in ("VERB", "AUX"):
            return self.verb_subjects(governor.i, before)
        return None

    def verb_subjects(self, token_index: int, before: list[NounPhrase]) -> list[NounPhrase] | None:
        """The subjects of a verb by the dependency parse, as noun phrases before it."""
        doc = self.r.parse
        if doc is None:
            return None
        token = doc[token_index]
        for _ in range(4):
            if token.dep_ in ("acl", "relcl") and token.head.i != token.i:
                heads = [token.head]
                break
            subjects = [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass", "expl")]
            if subjects:
                heads = subjects
                break
            if token.dep_ in ("conj", "xcomp", "ccomp", "aux", "auxpass") and token.head.i != token.i:
                token = token.head
                continue
            return None
        else:
            return None
        found: list[NounPhrase] = []
        for head in heads:
            for tok in [head, *head.conjuncts]:
                np_ = self.phrase_of(tok.i, before)
                if np_ is not None and np_ not in found:
                    found.append(np_)
        return found or None

    def build(self) -> Scene:
        r = self.r
        items = self.items
        sentence_nps: list[NounPhrase] = []  # phrases of this sentence, in order
        subjects: list[NounPhrase] = []  # the coordinated phrases that are not a relation's object
        last: NounPhrase | None = None
        links: list[Link] = []
        pending: tuple[RelationPhrase, list[NounPhrase]] | None = None
        between: list[NounPhrase] = []
        inverted: tuple[RelationPhrase, list[NounPhrase]] | None = None
        headless: list[NounPhrase] = []
        waiting: list[Position] = []
        elaboration: list[NounPhrase] = []  # headless phrases that split the last group
        related: tuple[list[NounPhrase], NounPhrase] | None = None  # last relation: subjects, object
        also: list[RelationPhrase] = []  # "above and to the right of": relations sharing an object
        joined: list[NounPhrase] = []  # phrases joined by "and" since the last relation
        last_separator: str | None = None
        after_separator = True
        k = 0
        while k < len(items):
            item = items[k]
            k += 1
            if isinstance(item, NounPhrase):
                if not item.head and not item.pronoun and not item.one:
                    if self.elaborates(items, k - 1, last, elaboration):
                        elaboration.append(item)  # "two cats, one black and one white"
                        if self.elaborate(last, elaboration):  # type: ignore[arg-type]
                            elaboration = []
                        continue
                    headless.append(item)  # "a red and a blue cube": wait for the head
                    continue
                if elaboration:
                    self.drop_elaboration(elaboration)
                    elaboration = []
                for h in headless:
                    h.head, h.known, h.written_head, h.plural = item.head, item.known, item.written_head, h.plural
                    self.place(h)
                    if h.resolved:
                        sentence_nps.append(h)
                        subjects.append(h)
                headless = []
                wearers = self.wearers(item, pending, links, last)
                if wearers:  # "a man in a red shirt", "a corgi wearing sunglasses"
                    for wearer in wearers:
                        group = self.groups[wearer.resolved]  # type: ignore[index]
                        r.consumed.update(range(item.start, item.end))
                        group.attributes["wearing"] = ", ".join(filter(None, [
                            group.attributes.get("wearing"), r.chars(item.start, item.end)]))
                    pending, links = None, []
                    continue
                exclude = [s.resolved for s in (pending[1] if pending else []) if s.resolved]
                self.relation_object = pending[0].name if pending else None
                self.place(item, exclude=exclude)
                self.relation_object = None
                if item.resolved is not None:
                    for position in waiting:
                        self.hints.setdefault(item.resolved, []).append(
                            (position.where, r.span(position.start, position.end)))
                    waiting = []
                if item.pronoun and item.resolved is None:
                    continue
                if pending is not None:
                    rel, subs = pending
                    if rel.name == "between":
                        if len(between) == 0 and self.ref_pair(item) is not None:
                            self.relate(subs, rel, self.ref_pair(item), [item])  # type: ignore[arg-type]
                            pending, last = None, item
                        else:
                            between.append(item)
                            if len(between) == 2:
                                self.relate(subs, rel, [self.ref(b) for b in between], between)
                                pending, last, between = None, item, []
                    else:
                        for each in [*also, rel]:
                            self.relate(subs, each, [self.ref(item)], [item])
                        pending, last = None, item
                    if pending is None:
                        related = (subs, item)
                        also, joined = [], []
                    sentence_nps.append(item)
                    links = []
                    after_separator = False
                    continue
                if inverted is not None:  # "on the table is a vase": the object came first
                    rel, objs = inverted
                    if len(objs) < RELATIONS[rel.name].arity and not (
                            objs and self.ref_pair(objs[0]) is not None):
                        objs.append(item)
                        sentence_nps.append(item)
                        continue
                    pair = self.ref_pair(objs[0]) if rel.name == "between" and len(objs) == 1 else None
                    self.relate([item], rel, pair or [self.ref(o) for o in objs], objs)
                    inverted = None
                actions = [x.word.text for x in links
                           if x.word.pos == "VERB" and x.word.text not in lx.NEUTRAL_VERBS]
                if actions and last is not None and item.resolved is not None:
                    r.warn("W218", links[0].start, item.end, words=" ".join(actions),
                           subject=r.chars(last.start, last.end), object=r.chars(item.start, item.end))
                if after_separator and subjects and not any(isinstance(x, Link) for x in links):
                    subjects.append(item)
                else:
                    subjects = [item]
                if after_separator and joined and not links and last_separator in ("and", ",", "&"):
                    joined.append(item)
                else:
                    joined = [item]
                sentence_nps.append(item)
                last = item
                links = []
                after_separator = False
                continue
            if isinstance(item, RelationPhrase):
                if pending is not None and not between and k >= 3 and items[k - 3] is pending[0] \
                        and isinstance(items[k - 2], Separator) and items[k - 2].word in ("and", ",", "&"):
                    also.append(pending[0])  # "above and to the right of a dog"
                    pending = (item, pending[1])
                    continue
                if pending is not None and not between:
                    also = []
                    r.warn("W211", pending[0].start, pending[0].end)
                    pending = None
                # "next to each other": the coordinated phrases relate among themselves
                if item.reciprocal:
                    self.relate_reciprocal(subjects, item)
                    continue
                if k < len(items) and isinstance(items[k], (Link, NounPhrase, Dropped)) and \
                        self.reciprocal(items, k):
                    k = self.skip_reciprocal(items, k)
                    self.relate_reciprocal(subjects, item)
                    continue
                if last is None or not sentence_nps:
                    inverted = (item, [])
                    continue
                subs = None
                if related is not None and related[1] is last and k >= 2 and \
                        isinstance(items[k - 2], Separator) and items[k - 2].word == "and":
                    subs = related[0]  # "left of the cat and right of the horse": the same subject
                subs = subs or self.governor_subjects(item, sentence_nps)
                verb_links = [x for x in links if x.word.pos in ("VERB", "AUX")]
                if verb_links and subs is None:
                    subs = self.verb_subjects(verb_links[0].word.index, sentence_nps)
                    if subs is None:
                        finite = [x for x in verb_links if x.word.tag in _FINITE_TAGS]
                        if finite and subjects:
                            plural = finite[0].word.text in _PLURAL_VERBS or finite[0].word.tag == "VBP"
                            subs = list(subjects) if plural and len(subjects) > 1 else [subjects[-1]]
                if not subs and not links and len(joined) > 1 and joined[-1] is last:
                    subs = list(joined)  # "a car and a dog under a horse": both are under it
                if not subs:
                    subs = [last]
                pending = (item, subs)
                between = []
                links = []
                continue
            if isinstance(item, Separator):
                last_separator = item.word
                if item.word in lx.SENTENCE_ENDS:
                    joined = []
                    sentence_nps, subjects, last, links = [], [], None, []
                    if pending is not None and not between:
                        r.warn("W211", pending[0].start, pending[0].end)
                        pending = None
                after_separator = True
                continue
            if isinstance(item, Link):
                links.append(item)
                continue
            if isinstance(item, PredicateAdjective):
                target = None
                if pending is None:
                    verb_links = [x for x in links if x.word.pos in ("VERB", "AUX")]
                    subs = self.verb_subjects(verb_links[0].word.index, sentence_nps) if verb_links else None
                    targets = subs or ([subjects[-1]] if subjects and any(
                        x.word.tag in _FINITE_TAGS for x in verb_links) else ([last] if last else []))
                    for target in targets:
                        if target.resolved:
                            self.adjective(target, item)
                            r.consumed.add(item.start)
                if pending is not None or not (target and target.resolved):
                    r.warn("W206", item.start, item.start + 1)
                continue
            if isinstance(item, Position):
                target = last if last is not None and last.resolved else None
                if target is None or after_separator:
                    waiting.append(item)  # "on the left, a cat": the position comes first
                    continue
                self.hints.setdefault(target.resolved, []).append((item.where, r.span(item.start, item.end)))
                continue
            if isinstance(item, Dropped):
                r.warn("W201", item.start, item.end)
        if pending is not None:
            r.warn("W211", pending[0].start, pending[0].end)
        if inverted is not None:
            r.warn("W212", inverted[0].start, inverted[0].end)
        for h in headless:
            r.warn("W203", h.start, h.end)
        if elaboration:
            self.drop_elaboration(elaboration)
        for position in waiting:
            r.warn("W231", position.start, position.end)
        self.resolve_hints()
        if not (self.groups or self.forbidden or r.background or r.style):
            r.warn("W240", 0, len(r.words))
        return self.scene()

    def elaborates(self, items: list[Item], k: int, last: NounPhrase | None,
                   elaboration: list[NounPhrase]) -> bool:
        """Whether the headless phrase ``items[k]`` describes part of the group just named."""
        if last is None or last.resolved is None or not isinstance(items[k], NounPhrase):
            return False
        group = self.groups[last.resolved]
        if not isinstance(group.count, int) or group.count < 2 or not isinstance(items[k].count, int):
            return False
        before = items[k - 1] if k > 0 else None
        if elaboration:
            return isinstance(before, Separator) and before.word in ("and", ",") and \
                items[k - 2] is elaboration[-1]
        return isinstance(before, Separator) and before.word in (",", ":", "-", "—", "–") and \
            items[k - 2] is last

    def elaborate(self, last: NounPhrase, parts: list[NounPhrase]) -> bool:
        """Split the group of ``last`` into ``parts`` once their counts add up; ``True`` when done."""
        group = self.groups[last.resolved]  # type: ignore[index]
        total = sum(p.count for p in parts)  # type: ignore[misc]
        if total < group.count:  # type: ignore[operator]
            return False
        if total > group.count:  # type: ignore[operator]
            self.drop_elaboration(parts)
            return True
        names = [group.name]
        first, rest = parts[0], parts[1:]
        original = group.count
        group.count, group.color = first.count, first.color or group.color  # type: ignore[assignment]
        group.size = first.size or group.size
        group.phrase = f"{self.r.chars(first.start, first.end)} {group.class_name}"
        for part in rest:
            part.head, part.known, part.written_head = last.head, last.known, last.written_head
            part.indefinite = True
            names.append(self.declare(part))
            self.groups[names[-1]].phrase = f"{self.r.chars(part.start, part.end)} {group.class_name}"
            self.groups[names[-1]].span = self.r.span(part.start, part.end)
        self.parts[group.name] = names
        instances = [(name, k) for name, part in zip(names, parts)
                     for k in range(part.count)]  # type: ignore[arg-type]
        assert len(instances) == original
        for statement in self.statements:  # "between two cats, one black and one white"
            for ref in [statement.subject, *statement.objects]:
                if ref.group == group.name and ref.index is not None:
                    ref.group, ref.index = instances[ref.index]
        for statement in list(self.statements):  # what held for all of them holds for each part
            refs = [statement.subject, *statement.objects]
            if any(ref.group == group.name and ref.index is None for ref in refs):
                for name in names[1:]:
                    swap = [Ref(group=name) if ref.group == group.name and ref.index is None else ref
                            for ref in refs]
                    if _distinct(swap):
                        self.statements.append(RelationStatement(
                            subject=swap[0], predicate=statement.predicate, objects=swap[1:],
                            span=statement.span))
        return True

    def drop_elaboration(self, parts: list[NounPhrase]) -> None:
        for part in parts:
            self.r.warn("W209", part.start, part.end)

    def wearers(self, item: NounPhrase, pending, links: list[Link],
                last: NounPhrase | None) -> list[NounPhrase] | None:
        """Who wears ``item`` when it is clothing after "in" or "wearing"; else ``None``."""
        if item.head not in lx.CLOTHING or item.negated or item.definite:
            return None
        if pending is not None:
            rel, subjects = pending
            if self.r.w[rel.start:rel.end] == ["in"]:
                return [s for s in subjects if s.resolved] or None
            return None
        if links and links[-1].word.text in ("wearing", "wears", "wear", "dressed", "in") \
                and last is not None and last.resolved:
            return [last]
        return None

    def adjective(self, target: NounPhrase, item: PredicateAdjective) -> None:
        group = self.groups[target.resolved]  # type: ignore[index]
        if item.color:
            if group.color is None:
                group.color = item.color
            elif group.color != item.color:
                group.attributes["other_colors"] = " ".join(
                    filter(None, [group.attributes.get("other_colors"), item.color]))
        elif item.size:
            group.size = group.size or item.size
        elif item.word.text in lx.MATERIALS:
            group.attributes.setdefault("material", item.word.text)
        else:
            group.attributes["adjectives"] = " ".join(
                filter(None, [group.attributes.get("adjectives"), item.word.text]))

    def reciprocal(self, items: list[Item], k: int) -> bool:
        words = self.r.w
        item = items[k]
        start = item.start
        return any(tuple(words[start:start + len(p)]) == p for p in _RECIPROCALS)

    def skip_reciprocal(self, items: list[Item], k: int) -> int:
        end = items[k].start + 2
        while k < len(items) and items[k].start < end:
            k += 1
        return k

    def relate_reciprocal(self, subjects: list[NounPhrase], rel: RelationPhrase) -> None:
        placed = [s for s in subjects if s.resolved]
        if len(placed) >= 2:
            for a, b in itertools.pairwise(placed):
                self.relate([a], rel, [self.ref(b)], [b])
            return
        if len(placed) == 1:
            group = self.groups[placed[0].resolved]  # type: ignore[index]
            if isinstance(group.count, int) and group.count >= 2:
                for idx in range(group.count - 1):
                    self.statements.append(RelationStatement(
                        subject=Ref(group=group.name, index=idx), predicate=rel.name,
                        objects=[Ref(group=group.name, index=idx + 1)],
                        span=self.statement_span(placed[0], rel, [])))
                return
        self.r.warn("W219", rel.start, rel.end)

    def resolve_hints(self) -> None:
        """Absolute positions ("a cat on the left and a dog on the right") as relations."""
        by_where: dict[str, list[tuple[str, Span]]] = {}
        for key, hints in self.hints.items():
            if not isinstance(key, str):
                continue
            for where, span in hints:
                by_where.setdefault(where, []).append((key, span))
        # the thing named first is the subject: "a cup on the right and a laptop on the left"
        # reads cup right_of laptop, as it was written
        pairs = [("left", "right", "left_of"), ("top", "bottom", "above"),
                 ("foreground", "background", "in_front_of"), ("right", "left", "right_of"),
                 ("bottom", "top", "below"), ("background", "foreground", "behind")]
        used = set()
        for first, second, predicate in pairs:
            for a, span_a in by_where.get(first, []):
                for b, span_b in by_where.get(second, []):
                    if a != b and span_a.start < span_b.start:
                        span = Span(text=None, start=min(span_a.start, span_b.start),  # type: ignore[type-var]
                                    end=max(span_a.end, span_b.end))  # type: ignore[type-var]
                        span = Span(text=self.r.text[span.start:span.end], start=span.start, end=span.end)
                        self.statements.append(RelationStatement(
                            subject=Ref(group=a), predicate=predicate, objects=[Ref(group=b)], span=span))
                        used |= {(first, a), (second, b)}
        for where, entries in by_where.items():
            for name, span in entries:
                if (where, name) not in used:
                    self.r.warnings.append(SceneWarning(
                        message=warning_text("W232", words=span.text, name=name), span=span))

    def unread(self, objects: list[ObjectGroup], statements: list[RelationStatement]) -> None:
        """Warn (W202) about content words that no group, statement or other warning covers.

        The last net under the reader: whatever it skipped without saying so is said here, so
        that a scene without warnings is a prompt read in full.
        """
        r = self.r
        spans = [x.span for x in [*objects, *statements, *self.forbidden, *self.requirements,
                                  *r.warnings] if x.span is not None]
        missed = []
        for k, word in enumerate(r.words):
            if k in r.consumed or word.text in _FUNCTION_WORDS or not re.search(r"[^\W\d_]", word.text):
                continue
            if any(sp.start <= word.start and word.end <= sp.end for sp in spans):
                continue
            missed.append(k)
        if missed:
            r.warn("W202", missed[0], missed[-1] + 1,
                   words=", ".join(f"'{r.chars(k, k + 1)}'" for k in missed))

    def scene(self) -> Scene:
        r = self.r
        objects = [ObjectGroup(name=g.name, phrase=g.phrase, class_name=g.class_name, count=g.count,
                               color=g.color, size=g.size, attributes=g.attributes, span=g.span)
                   for g in self.groups.values()]
        counts = {g.name: g.count for g in self.groups.values()}
        kept = []
        for statement in self.statements:  # a last check, so that a reading never raises
            if all(ref.group in counts and (ref.index is None or ref.index < _top(counts[ref.group]))
                   for ref in [statement.subject, *statement.objects]):
                kept.append(statement)
            else:
                r.warnings.append(SceneWarning(message=warning_text("W220", words=statement.predicate),
                                               span=statement.span))
        self.unread(objects, kept)
        return Scene(objects=objects, statements=kept, forbidden=self.forbidden,
                     requirements=self.requirements,
                     prompt=r.text, warnings=r.warnings,
                     background=", ".join(r.background) or None,
                     style=", ".join(r.style) or None)


def _top(count: int | CountRange) -> int:
    return count.max if isinstance(count, CountRange) else count


def _distinct(refs: list[Ref]) -> bool:
    """Whether no two references may be the same instance (as the scene language requires)."""
    for k, a in enumerate(refs):
        for b in refs[k + 1:]:
            if a.group == b.group and (a.index is None or b.index is None or a.index == b.index):
                return False
    return True


# --- public functions -----------------------------------------------------------------------------


def _needs_parse(doc) -> bool:
    """Whether a verb links words, or a plural noun right after a noun may be a verb ("walks")."""
    return any(t.tag_.startswith("VB") or t.tag_ == "MD"
               or (t.tag_ == "NNS" and t.i > 0 and doc[t.i - 1].tag_ in ("NN", "NNS"))
               for t in doc)


def _closed_tags() -> dict[str, str]:
    """Tags of the words whose role the tables decide alone (closed classes and known classes)."""
    tags: dict[str, str] = {}
    for word in ("a", "an", "the", "this", "that", "these", "those", "another", "any", "each",
                 "every", "all", "no", "some", "both"):
        tags[word] = "DT"
    for word in COUNT_WORDS:
        tags[word] = "CD"
    for word in (*COLORS_AND_SYNONYMS, *SIZE_WORDS, "few", "several", "many", "multiple",
                 "numerous", "various", "single"):
        tags[word] = "JJ"
    for word in ("of", "with", "without"):
        tags[word] = "IN"
    for word in ("and", "or", "but", "nor", "&", "plus"):
        tags[word] = "CC"
    for word in (",", ";", ":"):
        tags[word] = ","
    for word in (".", "!", "?"):
        tags[word] = "."
    for word in ("it", "them", "they"):
        tags[word] = "PRP"
    for word in lx.FRAMING_NOUNS:
        tags.setdefault(word, "NN")
    return tags


COLORS_AND_SYNONYMS = tuple(COLORS) + tuple(COLOR_SYNONYMS)
_CLOSED_TAGS = _closed_tags()
_PLURAL_CLASS_WORDS = {form for noun in (*lx.CLASS_PHRASES.values(), *lx.CLASS_SYNONYMS)
                       for form in lx.plural_forms(noun) if " " not in form} \
    - set(lx.CLASS_PHRASES.values())  # "sheep", "skis": singular as written


def _tag_closed(doc) -> bool:
    """Tag ``doc`` from the tables when every word is one they decide alone; else leave it.

    Words of known classes ("teddy bear", "oranges") and of relation phrases ("to the left of")
    count as decided wherever the whole phrase stands; any other word (a verb, an unknown noun or
    adjective) sends the prompt to the statistical tagger. Both paths read the same scene for
    every GenEval and hard-set prompt (tests/test_prompts.py).
    """
    words = [t.text for t in doc]
    tags: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(lx.MAX_CLASS_WORDS, len(words) - i), 0, -1):
            if tuple(words[i:i + n]) in _CLASS_TABLE:
                last = words[i + n - 1]
                tags += ["NN"] * (n - 1) + ["NNS" if last in _PLURAL_CLASS_WORDS else "NN"]
                break
        else:
            for n in range(min(_MAX_REL, len(words) - i), 1, -1):
                if tuple(words[i:i + n]) in RELATION_PHRASES and not any(
                        w in lx.NEUTRAL_VERBS or w.endswith(("ing", "ed")) for w in words[i:i + n]):
                    tags += ["IN"] * n
                    break
            else:
                word = words[i]
                if (word,) in RELATION_PHRASES and word not in lx.NEUTRAL_VERBS \
                        and not word.endswith(("ing", "ed")):
                    tags.append("IN")
                elif word in _CLOSED_TAGS:
                    tags.append(_CLOSED_TAGS[word])
                elif word.isdigit():
                    tags.append("CD")
                else:
                    return False
                n = 1
        i += n
    for token, tag in zip(doc, tags):
        token.tag_ = tag
    return True


def _read(text: str, doc, parse) -> Scene:
    return _Reader(text, doc, parse).scene()


def parse_prompt(text: str) -> Scene:
    """Read one English prompt into a scene.

    Raises ``PromptError`` E201 for an empty prompt, E202 for one over
    :data:`MAX_PROMPT_CHARS` characters and E203 when no spaCy pipeline is installed; anything
    else it cannot understand is kept as a warning on the scene.

    >>> scene = parse_prompt("a photo of a dog right of a teddy bear")
    >>> [g.class_name for g in scene.objects], scene.statements[0].predicate
    (['dog', 'teddy bear'], 'right_of')
    """
    return parse_prompts([text])[0]


def parse_prompts(texts: Iterable[str], batch_size: int = 256, *,
                  closed_fast_path: bool = True) -> list[Scene]:
    """Read many prompts, tagged in batches through ``nlp.pipe``; same order as given.

    Prompts made only of words the tables decide ("a photo of two red mugs left of a bench")
    skip the statistical tagger (``closed_fast_path``); the scene is the same either way.

    >>> [len(s.objects) for s in parse_prompts(["a cat", "two dogs and a bird"])]
    [1, 2]
    """
    from compose.prompts.pipeline import load_pipeline, parser_component

    texts = [check_prompt(t) for t in texts]
    nlp = load_pipeline()
    docs = [nlp.make_doc(_lower_keeping_offsets(t)) for t in texts]
    untagged = [k for k, doc in enumerate(docs) if not (closed_fast_path and _tag_closed(doc))]
    for k, doc in zip(untagged, nlp.pipe((docs[k] for k in untagged), batch_size=batch_size)):
        docs[k] = doc
    parser = parser_component()
    parsed: dict[int, object] = {}
    wanted = [k for k in untagged if _needs_parse(docs[k])]
    if parser is not None and wanted:
        for k, doc in zip(wanted, parser.pipe((docs[k] for k in wanted), batch_size=batch_size)):
            parsed[k] = doc
    return [_read(text, doc, parsed.get(k)) for k, (text, doc) in enumerate(zip(texts, docs))]
