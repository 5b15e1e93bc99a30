"""Score prompt readings against gold sets: exact ground truth per prompt, in the shape of
``tests/data/t2icompbench/gold_train.jsonl``.

A gold row is ``{"prompt", "objects": {noun: {"count"?, "count_min"?, "color"?}},
"relations": [[subject, predicate, object]], "forbid"?: [noun], "source"?}``. A reading is exact
when every gold noun matches groups of the scene (by class, or by a word of the group's phrase,
so "television" matches class ``tv``), counts and colors agree, no other group is drawn, every
gold relation holds between matched groups and every forbidden noun is forbidden. This is the
rule of the project's ``score-prompts`` tool, applied to the scene JSON ``compose parse
--prompts FILE --jsonl`` writes.

>>> row = {"prompt": "a red car left of a dog", "objects": {"car": {"count": 1, "color": "red"},
...        "dog": {"count": 1}}, "relations": [["car", "left_of", "dog"]]}
>>> from compose.prompts import parse_prompt
>>> misses(row, parse_prompt(row["prompt"]).to_dict())
[]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

#: Predicates that are one for the score ("near" is "next to").
EQUIVALENT = {"near": "next_to", "next to": "next_to", "beside": "next_to"}

_IRREGULAR = {"person": "people", "man": "men", "woman": "women", "child": "children",
              "mouse": "mice", "sheep": "sheep", "knife": "knives", "foot": "feet",
              "tooth": "teeth", "goose": "geese"}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def plural_forms(noun: str) -> set[str]:
    """The spellings a gold noun may take in a phrase: itself and its plurals.

    >>> sorted(plural_forms("knife"))
    ['knife', 'knifees', 'knifes', 'knives']
    """
    n = noun.lower()
    out = {n, n + "s", n + "es"}
    if n.endswith("y"):
        out.add(n[:-1] + "ies")
    if n.endswith("f"):
        out.add(n[:-1] + "ves")
    if n.endswith("fe"):
        out.add(n[:-2] + "ves")
    if n in _IRREGULAR:
        out.add(_IRREGULAR[n])
    return out


def group_matches(noun: str, group: dict) -> bool:
    """Whether a scene-JSON group is the gold noun: same class, or the noun is in its phrase."""
    if (group.get("class") or "").lower() == noun.lower():
        return True
    phrase = " ".join(_words(group.get("phrase") or ""))
    parts = noun.lower().split()
    if len(parts) > 1:
        forms = {noun.lower()} | {" ".join(parts[:-1] + [t]) for t in plural_forms(parts[-1])}
        return any(f in phrase for f in forms)
    return any(f in phrase.split() for f in plural_forms(noun))


def misses(gold: dict, scene: dict) -> list[str]:
    """Why the scene JSON ``scene`` is not the gold row's reading; empty when it is exact."""
    groups = scene.get("groups") or []
    group_of = {o["id"]: o.get("group") for o in scene.get("objects", [])}
    why: list[str] = []
    matched: dict[str, set[str]] = {}
    for noun, expected in gold.get("objects", {}).items():
        found = [g for g in groups if group_matches(noun, g)]
        if not found:
            why.append(f"no {noun}")
            continue
        matched[noun] = {g["name"] for g in found}
        n = sum(c if isinstance(c := g.get("count", 1), int) else c.get("min", 1) for g in found)
        if "count" in expected and n != expected["count"]:
            why.append(f"{noun} count {n}!={expected['count']}")
        if "count_min" in expected and n < expected["count_min"]:
            why.append(f"{noun} count {n}<{expected['count_min']}")
        if "color" in expected:
            colors = [g.get("color") or (g.get("attributes") or {}).get("color")
                      or (g.get("attributes") or {}).get("material") for g in found]
            if any(c != expected["color"] for c in colors):
                why.append(f"{noun} color {colors}!={expected['color']}")
    used = set().union(*matched.values()) if matched else set()
    extra = [g["name"] for g in groups if g["name"] not in used and g.get("count", 1) != 0]
    if extra:
        why.append(f"extra {extra}")
    held = set()
    for r in scene.get("relations", []):
        objects = r.get("object")
        objects = objects if isinstance(objects, list) else [objects]
        predicate = EQUIVALENT.get(r.get("predicate"), r.get("predicate"))
        for o in objects:
            held.add((group_of.get(r.get("subject")), predicate, group_of.get(o)))
    for s, p, o in gold.get("relations", []):
        p = EQUIVALENT.get(p, p)
        if not any((gs, p, go) in held for gs in matched.get(s, ()) for go in matched.get(o, ())):
            why.append(f"rel {s} {p} {o} missing")
    forbidden = _words(" ".join(json.dumps(f) for f in scene.get("forbid") or []))
    for noun in gold.get("forbid", []):
        if not any(f in forbidden for f in plural_forms(noun)):
            why.append(f"forbid {noun} missing")
    return why


def held_out(prompt: str, share: int = 4) -> bool:
    """Whether a prompt is in the held-out part of a gold set: 1 in ``share``, by its hash.

    >>> held_out("a cat"), held_out("a horse")
    (False, True)
    """
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % share == 0


def read_gold(path: str | Path) -> list[dict]:
    """The rows of a gold JSONL file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]


def score_rows(rows: Iterable[dict], scenes: Iterable[dict]) -> dict[str, list[int]]:
    """Exact readings per category (the row's ``source``): ``{category: [exact, total]}``."""
    out: dict[str, list[int]] = {}
    for row, scene in zip(rows, scenes):
        tally = out.setdefault(row.get("source", "all"), [0, 0])
        tally[1] += 1
        tally[0] += not misses(row, scene)
    return out
