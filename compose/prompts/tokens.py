"""Step 1 of reading a prompt: tokens, and the word tables every step looks words up in.

spaCy splits the prompt (lower-cased, so case never matters; offsets kept). Prompts made only of
words the tables decide are tagged from the tables (:func:`tag_closed`); others go through the
tagger, and the dependency parser runs only where a verb needs it (:func:`needs_parse`).
"""

from __future__ import annotations

from dataclasses import dataclass

from compose.errors import PromptError
from compose.prompts import lexicon as lx
from compose.relations import RELATIONS, word_vocabulary
from compose.vocabulary import (
    COLOR_NAMES,
    COLOR_SYNONYMS,
    COUNT_WORDS,
    SIZE_WORDS,
)

#: The longest prompt accepted, in characters (E202 above it).
MAX_PROMPT_CHARS = 2000

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
    for words, name in (*lx.EXTRA_RELATION_PHRASES.items(), *lx.DIAGONAL_RELATION_PHRASES.items()):
        if all(part in RELATIONS for part in name.split("+")):
            phrases.setdefault(tuple(words.split()), name)
    return phrases


#: Every phrasing of every relation, as word tuples, mapped to the relation's name.
RELATION_PHRASES = _relation_phrases()
_RELATION_WORDS = word_vocabulary()
_MAX_REL = max(len(p) for p in RELATION_PHRASES)
_MAX_QUANT = max(len(p) for p in lx.QUANTIFIERS)
_MAX_NEG = max(len(p) for p in lx.NEGATIONS)
_MAX_ABS = max(len(p) for p in lx.ABSOLUTE_POSITIONS)




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


_CLASS_TABLE: dict[tuple[str, ...] | str, str] = {}
for _phrase, _cls in lx.CLASS_PHRASES.items():
    _CLASS_TABLE[tuple(_phrase.split())] = _cls
    _CLASS_TABLE[_phrase] = _cls
for _noun in lx.SETTING_NOUNS:
    _CLASS_TABLE.setdefault(tuple(_noun.split()), _noun)
for _noun in ("living room", "parking lot"):
    for _form in lx.plural_forms(_noun):
        _CLASS_TABLE.setdefault(tuple(_form.split()), _noun)




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


COLORS_AND_SYNONYMS = COLOR_NAMES + tuple(COLOR_SYNONYMS)
_CLOSED_TAGS = _closed_tags()
_PLURAL_CLASS_WORDS = {form for noun in (*lx.CLASS_PHRASES.values(), *lx.CLASS_SYNONYMS)
                       for form in lx.plural_forms(noun) if " " not in form} \
    - set(lx.CLASS_PHRASES.values())  # "sheep", "skis": singular as written


def _tag_closed(doc) -> bool:
    """Tag ``doc`` from the tables when every word is one they decide alone; else leave it.

    Words of known classes ("teddy bear", "oranges") and of relation phrases ("to the left of")
    count as decided wherever the whole phrase stands; any other word (a verb, an unknown noun or
    adjective) sends the prompt to the statistical tagger. Both paths read the same scene for
    every GenEval and hard-set prompt (tests/prompts/test_prompts.py).
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


