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

from compose.io import write_text_atomic

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
    from compose.vocabulary import GENEVAL_COLORS, SHAPES

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


# ---- running it: the loop against best-of-N at matched compute ------------------------------
#: Budgets (renders' worth) at which the loop and best-of-N are compared.
BUDGETS = (1, 2, 3, 4, 5, 6)


def _trace(rounds) -> list[list]:
    """``[cumulative renders' worth, cumulative NFE, passed so far]`` after each round."""
    out, renders, nfe, passed = [], 0.0, 0, False
    for r in rounds:
        renders += r.cost.renders
        nfe += r.cost.nfe
        passed = passed or bool(r.report.passed)
        out.append([round(renders, 4), nfe, passed])
    return out


def run_scene(item: dict[str, Any], model, *, max_rounds: int = 6, best_of: int = 6) -> dict[str, Any]:
    """The loop and best-of-``best_of`` on one scene; one result row with both cost traces."""
    import time

    from compose.loop import generate
    from compose.sources import parse_program

    scene = parse_program(item["program"])
    start = time.perf_counter()
    loop = generate(scene, backbone=model, max_rounds=max_rounds, budget=float(max(BUDGETS)))
    loop_s = time.perf_counter() - start
    # best-of-N: candidate 0 is the loop's round 0 (same seed and layout); then fresh seeds
    candidates = [loop.rounds[0]]
    base = scene.seed if scene.seed is not None else 0
    start = time.perf_counter()
    while len(candidates) < best_of and not any(c.report.passed for c in candidates):
        other = generate(scene, backbone=model, seed=base + 1000 * len(candidates), max_rounds=0)
        candidates.append(other.rounds[0])
    return {"id": item["id"], "kind": item["kind"], "backbone": model.name,
            "loop": {"passed": loop.passed, "trace": _trace(loop.rounds), "seconds": round(loop_s, 3),
                     "strategies": [r.strategy.get("strategy") for r in loop.rounds], "kept_round": loop.best},
            "best_of_n": {"passed": any(c.report.passed for c in candidates), "trace": _trace(candidates),
                          "seconds": round(time.perf_counter() - start + sum(loop.rounds[0].seconds.values()), 3)},
            "failures": [c.reason for c in loop.report.checks if c.hard and not c.passed][:6]}


def passed_within(trace: list[list], budget: float) -> bool:
    """Whether a run had passed once it had spent at most ``budget`` renders' worth."""
    return any(p for renders, _, p in trace if renders <= budget + 1e-9)


def summarise_hard(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy per kind at each budget of :data:`BUDGETS`, for the loop and for best-of-N, and
    the mean NFE per render."""
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)] + ["all"]
    table: dict[str, Any] = {"n": len(rows), "budgets": list(BUDGETS), "kinds": {}}
    for kind in kinds:
        mine = rows if kind == "all" else [r for r in rows if r["kind"] == kind]
        table["kinds"][kind] = {
            "n": len(mine),
            "loop": [sum(passed_within(r["loop"]["trace"], b) for r in mine) / len(mine) for b in BUDGETS],
            "best_of_n": [sum(passed_within(r["best_of_n"]["trace"], b) for r in mine) / len(mine) for b in BUDGETS],
            "loop_final": sum(r["loop"]["passed"] for r in mine) / len(mine),
            "loop_renders": sum(r["loop"]["trace"][-1][0] for r in mine) / len(mine),
        }
    nfe = [t[1] / t[0] for r in rows for t in r["best_of_n"]["trace"][:1] if t[0]]
    table["nfe_per_render"] = round(sum(nfe) / len(nfe), 1) if nfe else 0
    return table


def format_hard_table(summary: dict[str, Any], title: str) -> str:
    budgets = summary["budgets"]
    head = " ".join(f"{'<=' + str(b):>6}" for b in budgets)
    lines = [title, (f"accuracy (share of scenes fully right) within a compute budget, in renders' worth "
                     f"({summary['nfe_per_render']} NFE each)"),
             f"{'kind':<10} {'n':>3} {'strategy':<10} {head}"]
    for kind, row in summary["kinds"].items():
        for strategy in ("loop", "best_of_n"):
            cells = " ".join(f"{v:>6.2f}" for v in row[strategy])
            lines.append(f"{kind if strategy == 'loop' else '':<10} {row['n'] if strategy == 'loop' else '':>3} "
                         f"{strategy.replace('_', '-'):<10} {cells}")
    return "\n".join(lines)


def svg_curves(summary: dict[str, Any], title: str) -> str:
    """Accuracy against compute (renders' worth; NFE on the top axis), loop vs best-of-N: one
    panel per kind, as a standalone SVG."""
    colors = {"loop": "#2f855a", "best_of_n": "#d69e2e"}
    kinds = list(summary["kinds"])
    budgets = summary["budgets"]
    pw, ph, pad = 170, 130, 40
    width = pad + len(kinds) * (pw + 20)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{ph + 110}" '
              f'font-family="sans-serif" font-size="10">'), f'<text x="10" y="16" font-size="13">{title}</text>']
    for i, kind in enumerate(kinds):
        x0, y0 = pad + i * (pw + 20), 40
        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        parts.append(f'<text x="{x0 + 4}" y="{y0 + 12}" font-weight="bold">{kind} (n={summary["kinds"][kind]["n"]})</text>')
        for k in range(0, 11, 5):
            y = y0 + ph - k / 10 * ph
            parts.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y}" y2="{y}" stroke="#eee"/>')
            if i == 0:
                parts.append(f'<text x="{x0 - 22}" y="{y + 3}">{k / 10:.1f}</text>')
        for j, b in enumerate(budgets):
            x = x0 + (j + 0.5) * pw / len(budgets)
            parts.append(f'<text x="{x - 3}" y="{y0 + ph + 12}">{b}</text>')
        for strategy, color in colors.items():
            pts = " ".join(f"{x0 + (j + 0.5) * pw / len(budgets):.1f},{y0 + ph - v * ph:.1f}"
                           for j, v in enumerate(summary["kinds"][kind][strategy]))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
            for j, v in enumerate(summary["kinds"][kind][strategy]):
                parts.append(f'<circle cx="{x0 + (j + 0.5) * pw / len(budgets):.1f}" cy="{y0 + ph - v * ph:.1f}" '
                             f'r="2.5" fill="{color}"><title>{kind} {strategy} at {budgets[j]} renders: {v:.2f}</title></circle>')
    parts.append(f'<text x="{pad}" y="{ph + 70}">renders\' worth of compute (1 = one default render, '
                 f'{summary["nfe_per_render"]} NFE)</text>')
    for j, (strategy, color) in enumerate(colors.items()):
        parts.append(f'<rect x="{pad + j * 120}" y="{ph + 85}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{pad + 14 + j * 120}" y="{ph + 94}">{strategy.replace("_", "-")}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def run_hard_benchmark(out_dir: Path, *, backbone: str = "embedded", part: str = "all",
                       max_rounds: int = 6, best_of: int = 6, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the hard suite of ``examples/hard`` (its ``part``: tune, report or all),
    one row per scene to ``out_dir/results.jsonl``; then ``summary.json``, ``table.txt`` and
    ``plot.svg``."""
    import json

    from compose.backbones import get_backbone
    from compose.bench.rows import suite_rows

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = split(load_suite(), part)
    model = get_backbone(backbone)
    rows = suite_rows(suite, lambda item: run_scene(item, model, max_rounds=max_rounds, best_of=best_of),
                      out_dir / "results.jsonl", backbone=backbone, description=f"hard ({backbone}, {part})",
                      progress=progress)
    summary = summarise_hard(rows)
    summary.update({"backbone": backbone, "part": part})
    title = f"hard suite ({part}, {len(rows)} scenes), backbone {backbone}"
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out_dir / "table.txt", format_hard_table(summary, title) + "\n")
    write_text_atomic(out_dir / "plot.svg", svg_curves(summary, title))
    return summary
