"""Prompt reader benchmark: exact readings on gold sets per category, prompts per second batched
and one at a time, and pipeline load time.

Run: python benchmarks/bench_prompts.py [--repeat 5] [--gold FILE ...] [--speed-only]
(prints two tables; rates are medians over repeats). Targets: >= 98% exact on T2I-CompBench's
training split; >= 1,000 prompts/s batched on GenEval's 553 prompts; >= 300 prompts/s on
free-form captions (T2I-CompBench's complex and non_spatial lines), on 2 cores. Each rate is
given by wall clock and per CPU second of this process: on a shared, busy machine the second is
the steadier one.

Accuracy: each gold JSONL (default: tests/data/t2icompbench/gold_train.jsonl and
tests/data/prompts_benchmarks.jsonl; any file in that shape with ``--gold``) is scored per
``source`` category by :func:`compose.prompts.gold.misses` (the rule of ``score-prompts``), and
T2I-CompBench's split into a tuning part and a held-out quarter (by the prompt's hash,
:func:`compose.prompts.gold.held_out`) is shown on its own rows.

Speed rows:

* load: a fresh process's ``load_pipeline()`` (spaCy import and model load), median of 3 runs;
* GenEval batched / one at a time: ``parse_prompts`` on the 553 prompts, and ``parse_prompt`` in
  a loop (all 553 take the closed-vocabulary fast path: tokenizer only, tags from the tables);
* GenEval batched with the tagger forced on every prompt (``closed_fast_path=False``);
* hard set batched: the prompts of tests/data/prompts_hard.jsonl (verbs make the dependency
  parser run on part of them);
* the same batched run with the parser forced on for every prompt and the lemmatizer and NER
  loaded, to show what excluding them buys;
* free-form captions batched: T2I-CompBench's complex and non_spatial training lines (1,400).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(fn, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``fn()`` (CPU time shows the cost when the shared
    machine is busy and wall-clock time is inflated by waiting)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def rate(n: int, seconds: tuple[float, float]) -> tuple[str, str]:
    wall, cpu = seconds
    return f"{n / wall:,.0f} prompts/s", f"{n / max(cpu, 1e-9):,.0f} prompts/s"


def load_seconds() -> tuple[float, float]:
    code = ("import time; t, c = time.perf_counter(), time.process_time(); "
            "from compose.prompts.nlp import load_pipeline; load_pipeline(); "
            "print(time.perf_counter() - t, time.process_time() - c)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(3)]
    return statistics.median(float(r[0]) for r in runs), statistics.median(float(r[1]) for r in runs)


def full_pipeline_rate(prompts: list[str], repeat: int) -> tuple[float, float]:
    """Prompts/s with every component loaded and the parser run on every prompt."""
    import spacy

    from compose.prompts import parser as reader
    from compose.prompts.nlp import MODEL_NAMES

    for name in MODEL_NAMES:
        try:
            nlp = spacy.load(name)
            break
        except OSError:
            continue

    def run() -> None:
        for text, doc in zip(prompts, nlp.pipe(reader._lower_keeping_offsets(p) for p in prompts)):
            reader._read(text, doc, doc)

    run()
    return median_seconds(run, repeat)


DEFAULT_GOLD = (ROOT / "tests/data/t2icompbench/gold_train.jsonl", ROOT / "tests/data/prompts_benchmarks.jsonl")


def accuracy_rows(paths) -> list[tuple[str, str, str]]:
    """(set / category, exact of total, percent) for every gold file, per category."""
    from compose.prompts import parse_prompts
    from compose.prompts.gold import held_out, misses, read_gold, score_rows

    rows = []
    for path in paths:
        gold = read_gold(path)
        start = time.perf_counter()
        scenes = [s.to_dict() for s in parse_prompts([g["prompt"] for g in gold])]
        seconds = time.perf_counter() - start
        for category, (exact, total) in sorted(score_rows(gold, scenes).items()):
            rows.append((f"  {category}", f"{exact}/{total}", f"{100 * exact / total:.1f}%"))
        for part, keep in (("tuning part", False), ("held-out quarter (hash)", True)):
            pairs = [(g, s) for g, s in zip(gold, scenes) if held_out(g["prompt"]) == keep]
            exact = sum(not misses(g, s) for g, s in pairs)
            if pairs and len(pairs) < len(gold):
                rows.append((f"  {part}", f"{exact}/{len(pairs)}", f"{100 * exact / len(pairs):.1f}%"))
        exact = sum(not misses(g, s) for g, s in zip(gold, scenes))
        rows.append((f"{Path(path).name} ({len(gold) / seconds:,.0f} prompts/s)", f"{exact}/{len(gold)}",
                     f"{100 * exact / len(gold):.1f}%"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gold", nargs="+", default=None, metavar="FILE",
                        help="gold JSONL files to score (default: the T2I-CompBench and hand-made sets)")
    parser.add_argument("--speed-only", action="store_true", help="skip the accuracy table")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    if not args.speed_only:
        table = Table(title="compose prompts: exact readings on gold sets")
        for column in ("set / category", "exact", "%"):
            table.add_column(column)
        for row in accuracy_rows(args.gold or DEFAULT_GOLD):
            table.add_row(*row)
        Console().print(table)

    from compose.prompts import parse_prompt, parse_prompts

    geneval = [json.loads(line)["prompt"] for line in
               (ROOT / "tests/data/geneval/evaluation_metadata.jsonl").read_text().splitlines() if line]
    hard = [json.loads(line)["prompt"] for line in
            (ROOT / "tests/data/prompts_hard.jsonl").read_text().splitlines() if line]
    load = load_seconds()
    parse_prompts(geneval[:50])  # warm up in this process
    rows = [("pipeline load (fresh process)", f"{load[0]:.2f} s", f"{load[1]:.2f} s", "")]
    batched = median_seconds(lambda: parse_prompts(geneval), args.repeat)
    rows.append(("GenEval 553, batched", *rate(len(geneval), batched), "target >= 1,000"))
    sample = geneval[::5]
    single = median_seconds(lambda: [parse_prompt(p) for p in sample], args.repeat)
    rows.append(("GenEval, one at a time", *rate(len(sample), single), f"{len(sample)} prompts"))
    from compose.prompts import parse_prompts as read

    tagged = median_seconds(lambda: read(geneval, closed_fast_path=False), args.repeat)
    rows.append(("GenEval 553, batched, tagger forced", *rate(len(geneval), tagged),
                 "no closed-vocabulary fast path"))
    hard_rate = median_seconds(lambda: parse_prompts(hard), args.repeat)
    rows.append((f"hard set {len(hard)}, batched", *rate(len(hard), hard_rate), "parser on demand"))
    free = [line.strip() for name in ("complex", "non_spatial") for line in
            (ROOT / f"tests/data/t2icompbench/train/{name}_train.txt").read_text().splitlines() if line.strip()]
    free_rate = median_seconds(lambda: parse_prompts(free), max(1, args.repeat // 2))
    rows.append((f"free-form captions {len(free)}, batched", *rate(len(free), free_rate), "target >= 300"))
    full = full_pipeline_rate(geneval, max(1, args.repeat // 2))
    rows.append(("GenEval, all components + parser", *rate(len(geneval), full), "what exclusion buys"))
    busy = os.getloadavg()[0]
    rows.append(("machine load (1 min)", f"{busy:.1f}", "", f"{os.cpu_count()} CPUs"))

    table = Table(title="compose prompts: spaCy prompt parser (medians)")
    for column in ("measure", "wall clock", "per CPU second", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
