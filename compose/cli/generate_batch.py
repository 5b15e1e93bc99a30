"""``compose generate-batch SPEC.jsonl -o DIR``: many generations, resumable, local or on Ray."""

from __future__ import annotations

import json

from compose.cli.console import console, err_console
from compose.errors import UsageError


def register(subparsers) -> None:
    from compose.batch.generate import __doc__ as doc

    p = subparsers.add_parser(
        "generate-batch", help="generate every item of a JSONL spec (resumable; local processes or Ray)",
        description=doc.split("\n\n", 1)[1] if doc else None,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC.jsonl", help="one item a line: {prompt|program|scene, id?, seed?, "
                                                      "backbone?, max_rounds?}")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (results.jsonl, items/<id>/, "
                                                                     "summary.json); a rerun resumes it")
    p.add_argument("--engine", default="local", help="local (default) or ray")
    p.add_argument("--workers", type=int, help="worker processes (local, default 1) or Ray actors (default: one "
                                               "per GPU, else per CPU)")
    p.add_argument("--address", help="ray: a running cluster to join (e.g. auto, or HOST:6379)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: the CPUs shared evenly)")
    p.add_argument("--gpus-per-worker", type=float, help="ray: GPUs per actor (default 1 on a GPU cluster)")
    p.add_argument("--retry-failed", action="store_true", help="run again the items whose latest row is an error")
    p.add_argument("--backbone", default="embedded", help="default backbone (default: embedded)")
    p.add_argument("--max-rounds", type=int, default=3, help="default repaint rounds (default 3)")
    p.add_argument("--steps", type=int, help="denoising steps (the backbone's default otherwise)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--detector", help="verifier detector (default: world for the embedded world, owlv2 otherwise)")
    p.add_argument("--backbone-options", metavar="JSON", help='backbone constructor options, e.g. '
                                                             '\'{"device": "cuda", "weights": "w.safetensors"}\'')
    p.add_argument("--limit", type=int, help="stop after this many new items")
    p.add_argument("--item-timeout", type=float, default=None, metavar="S",
                   help="seconds one item may run before it is stopped as an error row (E607; default 900)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from compose.batch.generate import generate_batch

    options = {}
    if args.backbone_options:
        try:
            options = json.loads(args.backbone_options)
        except json.JSONDecodeError as exc:
            raise UsageError("E006", argument="--backbone-options", value=args.backbone_options,
                             expected=f"a JSON object ({exc.msg})") from exc
        if not isinstance(options, dict):
            raise UsageError("E006", argument="--backbone-options", value=args.backbone_options,
                             expected="a JSON object")
    summary = generate_batch(args.spec, args.out, engine=args.engine, workers=args.workers, address=args.address,
                             retry_failed=args.retry_failed, backbone=args.backbone, max_rounds=args.max_rounds,
                             steps=args.steps, guidance=args.guidance, detector=args.detector,
                             backbone_options=options, threads=args.threads,
                             gpus_per_worker=args.gpus_per_worker, progress=not args.no_progress, limit=args.limit,
                             **({"item_timeout": args.item_timeout} if args.item_timeout is not None else {}))
    print_summary(summary)
    return 0


def print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"generate-batch ({summary['engine']})", title_justify="left")
    for column in ("items", "done", "passed", "failed", "errors", "pending", "done now", "items/s now"):
        table.add_column(column, justify="right")
    table.add_row(*(str(summary[k]) for k in ("items", "done", "passed", "failed", "errors", "pending", "done_now")),
                  f"{summary['items_per_second_now']:.2f}")
    console.print(table)
    if summary["errors"]:
        err_console.print(f"{summary['errors']} item(s) ended in an error (see results.jsonl); "
                          "run again with --retry-failed to retry them")
