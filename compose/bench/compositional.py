"""The compositional benchmark: a seeded suite of prompts in the embedded world.

GenEval's six categories (single object, two objects, counting 2-6, colors, position, color
attribution) plus relations beyond GenEval (on, inside, between, next to, three-object chains)
and negation. Every prompt goes through the whole pipeline: the prompt parser, the solver, the
backbone, the verifier. Three strategies are compared per prompt:

- ``layout``: layout-conditioned render only (0 repaint rounds);
- ``repaint``: the verify-and-repaint loop (up to 3 rounds);
- ``best_of_4``: four seeds (each its own layout and render), no repaint, keep the best.

The loop's round 0 *is* the layout-only result and best-of-4's first candidate (same seed), so it
is computed once and its time counted in each. The overall score is the unweighted mean of the
category accuracies, as GenEval's is.

Harder scenes, and accuracy against compute for the loop and best-of-N, are
:mod:`compose.bench.hard` (``compose bench compositional --suite hard``).

Examples
--------
>>> suite = build_suite(seed=0, per_category=2)
>>> sorted({item["category"] for item in suite})[:3]
['between', 'chain', 'color_attr']
>>> build_suite(seed=0, per_category=2) == suite
True
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from compose.io import write_text_atomic

GENEVAL_CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
EXTRA_CATEGORIES = ("on", "inside", "between", "next_to", "chain", "negation")
CATEGORIES = GENEVAL_CATEGORIES + EXTRA_CATEGORIES
STRATEGIES = ("layout", "repaint", "best_of_4")

_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
_POSITIONS = ("to the left of", "to the right of", "above", "below")


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x", "ch", "sh")) else "s")


def build_suite(seed: int = 0, per_category: int = 25) -> list[dict[str, Any]]:
    """``per_category`` prompts for each of :data:`CATEGORIES`, drawn from ``seed``."""
    from compose.vocabulary import GENEVAL_COLORS, SHAPES

    rng = random.Random(f"compositional:{seed}")
    colors = list(GENEVAL_COLORS)
    suite = []

    def two_shapes():
        return rng.sample(SHAPES, 2)

    # each maker draws from rng in the same order as the suite always has (shapes, then colors)
    def counting():
        n, shape = rng.randint(2, 6), rng.choice(SHAPES)
        return f"a photo of {_NUMBERS[n]} {_plural(shape)}"

    def position():
        a, b = two_shapes()
        return f"a photo of {_a(a)} {rng.choice(_POSITIONS)} {_a(b)}"

    def colored_pair(template: str):
        def make():
            a, b = two_shapes()
            c1, c2 = rng.sample(colors, 2)
            return template.format(_a(c1 + " " + a), _a(c2 + " " + b))
        return make

    def between():
        s, c = rng.sample(SHAPES, 3), rng.sample(colors, 3)
        return f"{_a(c[0] + ' ' + s[0])} between {_a(c[1] + ' ' + s[1])} and {_a(c[2] + ' ' + s[2])}"

    def chain():
        s = rng.sample(SHAPES, 3)
        w = rng.choice([("above", "above"), ("to the left of", "to the left of"),
                        ("below", "below"), ("to the right of", "to the right of")])
        return f"{_a(s[0])} {w[0]} {_a(s[1])} {w[1]} {_a(s[2])}"

    def negation():
        a, b = two_shapes()
        return f"{_a(rng.choice(colors) + ' ' + a)} and no {_plural(b)}"

    makers = {
        "single_object": lambda: f"a photo of {_a(rng.choice(SHAPES))}",
        "two_object": lambda: "a photo of {} and {}".format(*map(_a, two_shapes())),
        "counting": counting,
        "colors": lambda: f"a photo of {_a(rng.choice(colors) + ' ' + rng.choice(SHAPES))}",
        "position": position,
        "color_attr": colored_pair("a photo of {} and {}"),
        "on": colored_pair("{} on top of {}"),
        "inside": colored_pair("{} inside {}"),
        "between": between,
        "next_to": colored_pair("{} next to {}"),
        "chain": chain,
        "negation": negation,
    }
    for category in CATEGORIES:
        # a prompt may repeat (there are only six single objects): each item has its own seed,
        # as GenEval samples each prompt several times
        for i in range(per_category):
            suite.append({"id": f"{category}-{i:03d}", "category": category, "prompt": makers[category](),
                          "seed": rng.randrange(2**31)})
    return suite


def score_item(item: dict[str, Any], *, backbone: str, max_rounds: int = 3, best_of: int = 4,
             steps: int | None = None) -> dict[str, Any]:
    """All three strategies for one suite item; returns one result row."""
    from compose.loop import generate, report_score
    from compose.sources import parse_prompt

    start = time.perf_counter()
    scene = parse_prompt(item["prompt"])
    parse_seconds = time.perf_counter() - start
    loop = generate(scene, backbone=backbone, seed=item["seed"], max_rounds=max_rounds, steps=steps)
    first = loop.rounds[0]
    first_seconds = parse_seconds + sum(first.seconds.values())
    loop_seconds = parse_seconds + sum(sum(r.seconds.values()) for r in loop.rounds)
    # best-of-N: the first candidate is round 0 above (same seed); the others are fresh seeds
    candidates = [(first.report, first_seconds)]
    while len(candidates) < best_of and not any(r.passed for r, _ in candidates):
        t = time.perf_counter()
        other = generate(scene, backbone=backbone, seed=item["seed"] + 1000 * len(candidates), max_rounds=0,
                         steps=steps)
        candidates.append((other.report, time.perf_counter() - t))
    best_report = max((r for r, _ in candidates), key=report_score)
    return {
        **item, "backbone": backbone,
        "layout": {"passed": first.report.passed, "seconds": round(first_seconds, 4)},
        "repaint": {"passed": loop.passed, "seconds": round(loop_seconds, 4), "rounds": len(loop.rounds) - 1,
                    "kept_round": loop.best},
        "best_of_4": {"passed": best_report.passed, "seconds": round(sum(s for _, s in candidates), 4),
                      "candidates": len(candidates)},
        "failures": [c.reason for c in loop.report.checks if c.hard and not c.passed],
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-category accuracy per strategy, the overall (unweighted mean) score, mean rounds and
    median seconds per prompt."""
    categories = [c for c in CATEGORIES if any(r["category"] == c for r in rows)]
    table: dict[str, Any] = {"categories": {}, "overall": {}, "seconds_per_prompt": {}, "n": len(rows)}
    for c in categories:
        mine = [r for r in rows if r["category"] == c]
        table["categories"][c] = {s: sum(r[s]["passed"] for r in mine) / len(mine) for s in STRATEGIES}
        table["categories"][c]["n"] = len(mine)
    for s in STRATEGIES:
        table["overall"][s] = statistics.fmean(table["categories"][c][s] for c in categories) if categories else 0.0
        table["seconds_per_prompt"][s] = statistics.median(r[s]["seconds"] for r in rows) if rows else 0.0
    table["mean_rounds"] = statistics.fmean(r["repaint"]["rounds"] for r in rows) if rows else 0.0
    table["mean_candidates"] = statistics.fmean(r["best_of_4"]["candidates"] for r in rows) if rows else 0.0
    return table


def format_table(summary: dict[str, Any], backbone: str) -> str:
    lines = [f"compositional benchmark, backbone {backbone}, {summary['n']} prompts",
             f"{'category':<14} {'n':>4} {'layout':>8} {'repaint':>8} {'best-of-4':>10}"]
    for c, accs in summary["categories"].items():
        lines.append(f"{c:<14} {accs['n']:>4} {accs['layout']:>8.3f} {accs['repaint']:>8.3f} {accs['best_of_4']:>10.3f}")
    o, t = summary["overall"], summary["seconds_per_prompt"]
    lines.append(f"{'overall':<14} {summary['n']:>4} {o['layout']:>8.3f} {o['repaint']:>8.3f} {o['best_of_4']:>10.3f}")
    lines.append(f"{'median s/prompt':<19} {t['layout']:>8.3f} {t['repaint']:>8.3f} {t['best_of_4']:>10.3f}")
    lines.append(f"mean repaint rounds {summary['mean_rounds']:.2f}; mean best-of-4 candidates "
                 f"{summary['mean_candidates']:.2f}")
    return "\n".join(lines)


def svg_plot(summary: dict[str, Any], title: str) -> str:
    """Grouped bars of accuracy per category and strategy, as a standalone SVG."""
    colors = {"layout": "#9aa5b1", "repaint": "#2f855a", "best_of_4": "#d69e2e"}
    cats = list(summary["categories"]) + ["overall"]
    bar, gap, height = 9, 14, 160
    width = 60 + len(cats) * (3 * bar + gap)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 110}" '
              f'font-family="sans-serif" font-size="10">'), f'<text x="10" y="14" font-size="12">{title}</text>']
    for i, c in enumerate(cats):
        accs = summary["overall"] if c == "overall" else summary["categories"][c]
        x0 = 50 + i * (3 * bar + gap)
        for j, s in enumerate(STRATEGIES):
            h = accs[s] * height
            parts.append(f'<rect x="{x0 + j * bar}" y="{30 + height - h:.1f}" width="{bar - 1}" height="{h:.1f}" '
                         f'fill="{colors[s]}"><title>{c} {s}: {accs[s]:.3f}</title></rect>')
        parts.append(f'<text transform="translate({x0 + bar},{36 + height}) rotate(60)">{c}</text>')
    for k in range(0, 11, 2):
        y = 30 + height - k / 10 * height
        parts.append(f'<line x1="45" x2="{width - 5}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                     f'<text x="20" y="{y + 3}">{k / 10:.1f}</text>')
    for j, s in enumerate(STRATEGIES):
        parts.append(f'<rect x="{60 + j * 90}" y="{height + 95}" width="10" height="10" fill="{colors[s]}"/>'
                     f'<text x="{74 + j * 90}" y="{height + 104}">{s}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def run_benchmark(out_dir: Path, *, backbone: str = "embedded", per_category: int = 25, seed: int = 0,
                  steps: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the suite, writing one row per prompt to ``out_dir/results.jsonl`` as it
    finishes, then ``summary.json``, ``table.txt`` and ``plot.svg``."""
    from compose.bench.rows import suite_rows

    out_dir.mkdir(parents=True, exist_ok=True)
    suite = build_suite(seed=seed, per_category=per_category)
    rows = suite_rows(suite, lambda item: score_item(item, backbone=backbone, steps=steps), out_dir / "results.jsonl",
                      backbone=backbone, description=f"compositional ({backbone})", progress=progress)
    summary = summarise(rows)
    summary.update({"backbone": backbone, "seed": seed, "per_category": per_category})
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out_dir / "table.txt", format_table(summary, backbone) + "\n")
    write_text_atomic(out_dir / "plot.svg", svg_plot(summary, f"compositional accuracy ({backbone})"))
    return summary
