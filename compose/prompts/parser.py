"""Prompts to scenes: read an English prompt into the :class:`~compose.scene.Scene` a program gives.

The reading has three steps, one module each.

1. **Tokens** (:mod:`compose.prompts.tokens`): spaCy splits and tags the prompt (lower-cased, so
   case never matters); the word tables live here. The dependency parser runs only when a verb
   is present (see :mod:`compose.prompts.nlp`).
2. **Items** (:mod:`compose.prompts.items`): a left-to-right pass, longest match first, turns
   the words into noun phrases, relation phrases, separators, negations, pronouns, absolute
   positions and linking verbs.
3. **Scene** (:mod:`compose.prompts.builder`): items become groups, statements and forbidden
   things.

Every prompt gives a scene. What was not understood is a coded warning (``W2xx``,
:class:`compose.errors.Warnings`) on it, naming the words; a scene without warnings is a prompt
read in full.

Examples
--------
>>> scene = parse_prompt("three red apples to the left of a blue bowl")
>>> [(g.name, g.class_name, g.count, g.color) for g in scene.objects]
[('apple', 'apple', 3, 'red'), ('bowl', 'bowl', 1, 'blue')]
>>> [(s.subject.group, s.predicate, s.objects[0].group) for s in scene.statements]
[('apple', 'left_of', 'bowl')]
"""

from __future__ import annotations

from collections.abc import Iterable

from compose.prompts.builder import BARE_PLURAL_COUNT, _SceneBuilder
from compose.prompts.items import _Reader
from compose.prompts.tokens import (
    MAX_PROMPT_CHARS,
    RELATION_PHRASES,
    _lower_keeping_offsets,
    _needs_parse,
    _tag_closed,
    check_prompt,
)
from compose.scene import Scene

__all__ = [
    "BARE_PLURAL_COUNT",
    "MAX_PROMPT_CHARS",
    "RELATION_PHRASES",
    "_lower_keeping_offsets",
    "_needs_parse",
    "_read",
    "_tag_closed",
    "check_prompt",
    "parse_prompt",
    "parse_prompts",
]


def _read(text: str, doc, parse) -> Scene:
    reader = _Reader(text, doc, parse)
    return _SceneBuilder(reader, reader.items()).build()


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
    from compose.prompts.nlp import load_pipeline, parser_component

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
