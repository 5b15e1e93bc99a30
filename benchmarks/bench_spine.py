"""Spine benchmark: parse + check time of a generated 1,000-statement program, and `import compose`.

Run: python benchmarks/bench_spine.py  (prints one table; medians over repeated runs)
Targets: parse + check of 1,000 statements < 150 ms; `import compose` < 0.3 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def generated_program(statements: int = 1000) -> str:
    colors = ["red", "blue", "green", "yellow", "purple"]
    words = ["left of", "right of", "above", "below", "near", "next to", "on", "in front of"]
    n_objects = statements // 2
    lines = ["canvas 1024 x 1024", 'background "a big table"', "seed 1"]
    lines += [f'object o{i} "a {colors[i % 5]} thing number {i}" color {colors[i % 5]} size small'
              for i in range(n_objects)]
    lines += [f"o{i} {words[i % len(words)]} o{(i * 7 + 1) % n_objects}" if i != (i * 7 + 1) % n_objects
              else f"o{i} above o{(i + 1) % n_objects}" for i in range(statements - n_objects - 3)]
    return "\n".join(lines) + "\n"


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from compose.language import parse_program
    from compose.language.syntax import scene_parser

    text = generated_program(1000)
    build = time.perf_counter()
    scene_parser()
    build = time.perf_counter() - build
    parse = median_seconds(lambda: parse_program(text), repeat=15)
    imports = [float(subprocess.run(
        [sys.executable, "-c", ("import time; t = time.perf_counter(); import compose; "
                                "print(time.perf_counter() - t)")], capture_output=True, text=True, check=True
    ).stdout) for _ in range(7)]
    heavy = subprocess.run([sys.executable, "-c", ("import sys, compose; print(sorted(m for m in "
                            "('torch', 'diffusers', 'spacy', 'ortools', 'transformers', 'lark', 'pydantic') "
                            "if m in sys.modules))")], capture_output=True, text=True, check=True).stdout.strip()
    rows = [
        ("parse + check, 1,000 statements (median of 15)", f"{parse * 1000:.1f} ms", "< 150 ms"),
        ("grammar load + LALR table build (once per process)", f"{build * 1000:.1f} ms", "-"),
        ("import compose (median of 7, fresh interpreter)", f"{statistics.median(imports) * 1000:.1f} ms", "< 300 ms"),
        ("heavy modules loaded by `import compose`", heavy, "[]"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
