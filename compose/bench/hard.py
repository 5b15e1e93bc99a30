"""The hard suite: seeded scene programs of five kinds that separate repair strategies.

The shipped compositional suite is nearly saturated; these scenes are not. Each kind stresses
one thing the loop has to repair:

- ``crowded``: 8-12 shapes, 2-4 directional relations (small objects, tight packing);
- ``overlap``: 4-6 shapes with ``on`` / ``inside`` / ``in front of`` / ``behind``;
- ``counting``: 2-3 groups, 10-20 instances in all (each about 8-10 pixels at 64 x 64);
- ``mixed``: counts, colors, a directional and an overlap relation together;
- ``multi``: 4-8 distinct colored objects, every instance must be right (COCO-MIG style).

Scenes are numbered; :func:`split` puts the even ones in the *tune* half (used to choose the
loop's thresholds) and the odd ones in the *report* half (measured only), so figures quoted in
``docs/generate.md`` come from scenes the policy was not tuned on.

Examples
--------
>>> suite = build_hard_suite(seed=0, per_kind=2)
>>> [s["id"] for s in suite][:3]
['crowded-00', 'crowded-01', 'overlap-00']
>>> build_hard_suite(seed=0, per_kind=2) == suite
True
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

KINDS = ("crowded", "overlap", "counting", "mixed", "multi")
#: Where the seeded programs live in the repository (``compose bench hard`` writes them there).
HARD_DIR = Path(__file__).resolve().parents[2] / "examples" / "hard"

_DIRECTIONAL = ("left of", "right of", "above", "below")
_OVERLAP = ("on", "inside", "in front of", "behind")


def _program(seed: int, objects: list[tuple[str, str, str, int, str | None]], relations: list[str],
             comment: str) -> str:
    lines = [f"# {comment}", f"seed {seed}", ""]
    for name, shape, color, count, size in objects:
        phrase = f"{('an ' if color[0] in 'aeiou' else 'a ') if count == 1 else ''}{color} {shape}{'' if count == 1 else ('es' if shape == 'cross' else 's')}"
        lines.append(f'object {name} "{phrase}" class "{shape}" color {color}'
                     + (f" count {count}" if count > 1 else "") + (f" size {size}" if size else ""))
    lines.append("")
    lines.extend(relations)
    return "\n".join(lines) + "\n"


def _names(shapes_colors):
    used: dict[str, int] = {}
    out = []
    for shape, color in shapes_colors:
        base = f"{color}_{shape}"
        used[base] = used.get(base, 0) + 1
        out.append(base if used[base] == 1 else f"{base}{used[base]}")
    return out


def build_hard_suite(seed: int = 0, per_kind: int = 10) -> list[dict[str, Any]]:
    """``per_kind`` scene programs of each of :data:`KINDS`: dicts with ``id``, ``kind``,
    ``program`` (scene-language text) and ``seed``."""
    from compose.vocabulary import GENEVAL_COLORS
    from compose.world.vocabulary import SHAPES

    rng = random.Random(f"hard:{seed}")
    colors = [c for c in GENEVAL_COLORS]
    suite = []

    def distinct(n):
        pairs = [(s, c) for s in SHAPES for c in colors]
        return rng.sample(pairs, n)

    for kind in KINDS:
        for i in range(per_kind):
            s = rng.randrange(10_000)
            if kind == "crowded":
                n = rng.randint(8, 12)
                pairs = distinct(n)
                names = _names(pairs)
                objs = [(nm, sh, co, 1, None) for nm, (sh, co) in zip(names, pairs)]
                rels = []
                for _ in range(rng.randint(2, 4)):
                    a, b = rng.sample(names, 2)
                    rels.append(f"{a} {rng.choice(_DIRECTIONAL)} {b}")
                text = _program(s, objs, sorted(set(rels)), f"crowded: {n} shapes, directional relations")
            elif kind == "overlap":
                n = rng.randint(4, 6)
                pairs = distinct(n)
                names = _names(pairs)
                objs = [(nm, sh, co, 1, None) for nm, (sh, co) in zip(names, pairs)]
                base = names[0]
                objs[0] = (base, pairs[0][0], pairs[0][1], 1, "large")
                rels = []
                for nm in names[1:rng.randint(3, n) + 1][:3]:
                    rels.append(f"{nm} {rng.choice(_OVERLAP)} {base}")
                text = _program(s, objs, rels, f"overlap: {n} shapes around a large {pairs[0][1]} {pairs[0][0]}")
            elif kind == "counting":
                groups = rng.randint(2, 3)
                total = rng.randint(10, 20)
                counts = [total // groups + (1 if k < total % groups else 0) for k in range(groups)]
                pairs = distinct(groups)
                names = [f"{c}_{sh}" for sh, c in pairs]
                objs = [(nm, sh, co, k, None) for nm, (sh, co), k in zip(names, pairs, counts)]
                text = _program(s, objs, [], f"counting: {total} instances in {groups} groups")
            elif kind == "mixed":
                pairs = distinct(4)
                names = _names(pairs)
                objs = [(names[0], pairs[0][0], pairs[0][1], 1, "large"),
                        (names[1], pairs[1][0], pairs[1][1], rng.randint(2, 4), None),
                        (names[2], pairs[2][0], pairs[2][1], 1, None),
                        (names[3], pairs[3][0], pairs[3][1], rng.randint(2, 3), None)]
                rels = [f"{names[2]} {rng.choice(_OVERLAP)} {names[0]}",
                        f"{names[1]} {rng.choice(_DIRECTIONAL)} {names[0]}"]
                text = _program(s, objs, rels, "mixed: counts, colors, a directional and an overlap relation")
            else:  # multi
                n = rng.randint(4, 8)
                pairs = distinct(n)
                names = _names(pairs)
                objs = [(nm, sh, co, 1, None) for nm, (sh, co) in zip(names, pairs)]
                text = _program(s, objs, [], f"multi-object: {n} colored shapes, every one must be right")
            suite.append({"id": f"{kind}-{i:02d}", "kind": kind, "program": text, "seed": s})
    return suite


def split(suite: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    """The ``"tune"`` half (even numbers), the ``"report"`` half (odd numbers) or ``"all"``."""
    if part == "all":
        return list(suite)
    parity = {"tune": 0, "report": 1}[part]
    return [s for s in suite if int(s["id"].rsplit("-", 1)[1]) % 2 == parity]


def write_suite(folder: str | Path = HARD_DIR, *, seed: int = 0, per_kind: int = 10) -> list[Path]:
    """Write the suite's programs as ``folder/<id>.scene``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in build_hard_suite(seed=seed, per_kind=per_kind):
        path = folder / f"{item['id']}.scene"
        path.write_text(item["program"], encoding="utf-8")
        paths.append(path)
    return paths


def load_suite(folder: str | Path = HARD_DIR) -> list[dict[str, Any]]:
    """The programs of ``folder`` (as written by :func:`write_suite`), sorted by id."""
    out = []
    for path in sorted(Path(folder).glob("*.scene")):
        ident = path.stem
        out.append({"id": ident, "kind": ident.rsplit("-", 1)[0], "program": path.read_text(encoding="utf-8"),
                    "path": str(path)})
    return out
