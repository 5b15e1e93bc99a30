"""Prompt parser benchmark: prompts per second batched and one at a time, and pipeline load time.

Run: python benchmarks/bench_prompts.py [--repeat 5]  (prints one table; medians over repeats)
Target: >= 1,000 prompts/s batched on GenEval's 553 prompts.

Rows:

* load: a fresh process's ``load_pipeline()`` (spaCy import and model load), median of 3 runs;
* GenEval batched / one at a time: ``parse_prompts`` on the 553 prompts, and ``parse_prompt`` in
  a loop (all 553 take the closed-vocabulary fast path: tokenizer only, tags from the tables);
* GenEval batched with the tagger forced on every prompt (``closed_fast_path=False``);
* hard set batched: the 185 prompts of tests/data/prompts_hard.jsonl (verbs make the dependency
  parser run on part of them);
* the same batched run with the parser forced on for every prompt and the lemmatizer and NER
  loaded, to show what excluding them buys.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_seconds() -> float:
    code = ("import time; t = time.perf_counter(); from compose.prompts.pipeline import load_pipeline; "
            "load_pipeline(); print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    return statistics.median(runs)


def full_pipeline_rate(prompts: list[str], repeat: int) -> float:
    """Prompts/s with every component loaded and the parser run on every prompt."""
    import spacy

    from compose.prompts import parser as reader
    from compose.prompts.pipeline import MODEL_NAMES

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
    return len(prompts) / median_seconds(run, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from compose.prompts import parse_prompt, parse_prompts

    geneval = [json.loads(line)["prompt"] for line in
               (ROOT / "tests/data/geneval/evaluation_metadata.jsonl").read_text().splitlines() if line]
    hard = [json.loads(line)["prompt"] for line in
            (ROOT / "tests/data/prompts_hard.jsonl").read_text().splitlines() if line]
    load = load_seconds()
    parse_prompts(geneval[:50])  # warm up in this process
    rows = [("pipeline load (fresh process)", f"{load:.2f} s", "")]
    batched = len(geneval) / median_seconds(lambda: parse_prompts(geneval), args.repeat)
    rows.append(("GenEval 553, batched", f"{batched:,.0f} prompts/s",
                 "target >= 1,000" + ("" if batched >= 1000 else "  (MISSED)")))
    sample = geneval[::5]
    single = len(sample) / median_seconds(lambda: [parse_prompt(p) for p in sample], args.repeat)
    rows.append(("GenEval, one at a time", f"{single:,.0f} prompts/s", f"{len(sample)} prompts"))
    from compose.prompts import parse_prompts as read

    tagged = len(geneval) / median_seconds(lambda: read(geneval, closed_fast_path=False), args.repeat)
    rows.append(("GenEval 553, batched, tagger forced", f"{tagged:,.0f} prompts/s",
                 "no closed-vocabulary fast path"))
    hard_rate = len(hard) / median_seconds(lambda: parse_prompts(hard), args.repeat)
    rows.append(("hard set 185, batched", f"{hard_rate:,.0f} prompts/s", "parser on demand"))
    full = full_pipeline_rate(geneval, max(1, args.repeat // 2))
    rows.append(("GenEval, all components + parser", f"{full:,.0f} prompts/s", "what exclusion buys"))

    from rich.console import Console
    from rich.table import Table

    table = Table(title="compose prompts: spaCy prompt parser (medians)")
    for column in ("measure", "value", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
