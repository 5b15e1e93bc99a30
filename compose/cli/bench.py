"""``compose bench``: benchmarks that print a table."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run a benchmark and print its table")
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    c = sub.add_parser("compositional", help="the compositional benchmark in the embedded world")
    c.add_argument("--backbone", default="embedded", help="backbone (default embedded; procedural cross-checks)")
    c.add_argument("--per-category", type=int, default=25, help="prompts per category (12 categories)")
    c.add_argument("--seed", type=int, default=0, help="seed of the suite")
    c.add_argument("--steps", type=int, help="denoising steps (backbone default otherwise)")
    c.add_argument("-o", "--out", default="runs/bench-compositional", help="output folder (resumable)")
    c.add_argument("--suite", choices=["shipped", "hard"], default="shipped",
                   help="the 12 GenEval-style categories, or the hard suite of examples/hard (crowded, overlap, "
                        "counting 10-20, mixed, multi-object) with accuracy vs compute, loop vs best-of-N")
    c.add_argument("--part", choices=["all", "tune", "report"], default="all",
                   help="hard suite: the tune half (even ids), the report half (odd ids) or all")
    c.set_defaults(func=run_compositional)


def run_compositional(args) -> int:
    from compose.bench.compositional import format_table, run_benchmark

    if args.suite == "hard":
        from compose.bench.hard import format_hard_table, run_hard_benchmark

        out = Path(args.out) / f"hard-{args.part}" / args.backbone
        summary = run_hard_benchmark(out, backbone=args.backbone, part=args.part)
        print(format_hard_table(summary, f"hard suite ({args.part}), backbone {args.backbone}"))
        print(f"rows, summary and plot in {out}")
        return 0
    out = Path(args.out) / args.backbone
    summary = run_benchmark(out, backbone=args.backbone, per_category=args.per_category, seed=args.seed,
                            steps=args.steps)
    print(format_table(summary, args.backbone))
    print(f"rows, summary and plot in {out}")
    return 0
