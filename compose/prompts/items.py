"""Step 2 of reading a prompt: the tagged words into items.

A left-to-right pass, longest match first, turns the words into noun phrases (determiner or
quantifier, count, colors, size and other adjectives, a noun or a known compound class),
relation phrases, separators, negations, pronouns, absolute positions and linking verbs.
Framing words ("a photo of") and openings ("there is") are dropped here. The tables decide where
a statistical tagger is unreliable: a known class is a noun whatever its tag ("a sink"), and a
word that ends a phrase after a determiner or modifier is its noun ("a red rose", tagged a verb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compose.errors import warning_text
from compose.prompts import lexicon as lx
from compose.prompts.nlp import coarse_tag
from compose.prompts.tokens import (
    _CLASS_TABLE,
    _MAX_ABS,
    _MAX_NEG,
    _MAX_QUANT,
    _MAX_REL,
    RELATION_PHRASES,
    Word,
)
from compose.scene import (
    SceneWarning,
    Span,
)
from compose.vocabulary import (
    COUNT_WORDS,
    SIZE_WORDS,
    color_name,
    count_word,
)

_FINITE_TAGS = {"VBZ", "VBP", "VBD", "MD"}
_PLURAL_VERBS = {"are", "were", "'re", "sit", "stand", "lie", "rest", "float", "hang", "fly", "stay",
                 "appear", "remain"}
_NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
_HEADLESS_PRONOUNS = {"one", "ones"}
_RECIPROCALS = (("each", "other"), ("one", "another"))
_NOT_NOUNS = (set(COUNT_WORDS) | lx.SEPARATORS | lx.DEFINITE | lx.INDEFINITE | lx.PRONOUNS
              | {"no", "not", "any", "some", "all", "each", "every", "of", "there", "here", "is",
                 "are", "be", "which", "who", "whose", "what", "where", "other", "another"})




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
    extra: tuple[str, ...] = ()  # "to the upper left of": left_of besides above


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


def _number(word: str) -> int | None:
    """:func:`count_word`, for any token ("¹" is a digit to Python, not a number)."""
    return count_word(word) if word.isascii() else None


#: First words of negations: never a noun ("a cat without").
_NEGATION_WORDS = frozenset(n[0] for n in lx.NEGATIONS)


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

    def tagged_as_verb(self, phrases) -> bool:
        """Whether the tagger called the noun of one of ``phrases`` a verb: its parse is unsafe."""
        return any(p.end > p.start and self.words[p.end - 1].tag.startswith("VB") for p in phrases
                   if p.head)

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
                or word in _NEGATION_WORDS \
                or word in lx.PRONOUNS or word in lx.NEUTRAL_VERBS or word in lx.MATERIALS \
                or word in lx.RELATION_ADVERBS or self.relation_at(i) \
                or self.match(i, lx.ABSOLUTE_POSITIONS, _MAX_ABS) is not None:
            return False
        if (color_name(word) or word in lx.EXTRA_COLORS) and word not in lx.COLOR_NOUNS:
            return False
        if word.endswith("ing") and self.words[i].tag == "VBG":
            return False
        previous = self.w[i - 1]
        if not (previous in ("a", "an", "the", "another", "this", "that") or _number(previous) is not None
                or color_name(previous) or previous in lx.EXTRA_COLORS or previous in SIZE_WORDS
                or previous in lx.MATERIALS or self.words[i - 1].tag in ("JJ", "JJR", "JJS", "VBN", "VBG")):
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
                first, *more = rel[1].split("+")
                out.append(RelationPhrase(i, i + rel[0], first, negated=negation is not None,
                                          extra=tuple(more)))
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
            if self.w[j:j + 3] == ["-", "and", "-"] and j + 3 < n and np_.color and \
                    color_name(self.w[j + 3]) and self.modifier_then_noun(j + 3):
                j += 3  # "a black-and-white cat"
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
                end = self.hyphenated(j)
                units.append((j, end, self.chars(j, end).lower(), False))
                j = end
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

    def hyphenated(self, i: int) -> int:
        """End of the word at ``i`` written with hyphens ("post-it", which spaCy splits in three)."""
        end = i + 1
        while end + 1 < len(self.w) and self.w[end] == "-" and re.fullmatch(r"[a-z]+", self.w[end + 1]) \
                and self.words[end].start == self.words[end - 1].end \
                and self.words[end + 1].start == self.words[end].end:
            end += 2
        return end

    def nounish_ahead_modified(self, i: int) -> bool:
        """Whether a noun follows after modifiers ("one red car"): "one" is then a count.

        Colors may be joined ("an orange and white cat").
        """
        while i < len(self.w):
            previous = self.w[i - 1] if i > 0 else ""
            if (color_name(previous) or _number(previous) is not None or previous in lx.MATERIALS
                    or previous in SIZE_WORDS or self.words[i - 1].tag in ("JJ", "VBN")) \
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
        return word.tag in ("VBG", "VBN") and (self.nounish(i + 1) or self.forced_head(i + 1, i))

    def is_plural(self, start: int, end: int, written: str) -> bool:
        if written in ("skis", "scissors", "sheep", "glasses", "broccoli", "fish", "deer"):
            return self.words[end - 1].tag == "NNS" and written not in ("skis", "scissors")
        if written in _CLASS_TABLE and _CLASS_TABLE[written] != written:
            return lx.CLASS_SYNONYMS.get(written) is None or written in ("people", "persons") \
                or self.words[end - 1].tag == "NNS"  # "discs"; "sofa" is singular
        if written in lx.IRREGULAR_PLURALS and lx.IRREGULAR_PLURALS[written] != written:
            return True
        return self.words[end - 1].tag in ("NNS", "NNPS") and lx.singular(written) != written
