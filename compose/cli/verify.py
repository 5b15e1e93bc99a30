"""``compose verify`` (one image against a scene) and ``compose verify-batch`` (many, resumable).

``compose verify FILE|--prompt TEXT IMAGE`` prints every check with its verdict (``--json``: the
report JSON; ``--html DIR``: a page with the image, the boxes and the checks) and exits 0 when
every hard check passes, 6 (E501) when one fails.

``compose verify-batch --items ITEMS.jsonl | --geneval FOLDER | --images FOLDER --prompts FILE...
--out DIR`` verifies a batch. ITEMS lines are ``{"id"?, "scene": FILE | "program": TEXT | "prompt":
TEXT | "metadata": {GenEval metadata}, "image": PATH | "images": [PATH...], "layout"?: FILE, "tag"?:
TEXT}`` (paths relative to the ITEMS file). A GenEval FOLDER is ``<index>/samples/*.png`` with
``<index>/metadata.jsonl`` or ``--metadata FILE`` (line ``index``). ``--images`` is a folder of
images named by their prompt (T2I-CompBench, LMD: ``<prompt>_000003.png``) with prompt files, one
prompt a line, each file a category (``color_val.txt`` is ``color``). ``--protocol geneval`` judges
GenEval metadata with GenEval's own protocol (Mask2Former, thresholds 0.3 / 0.9, CLIP colors);
``--detections FILE`` takes a COCO results file instead of running a detector. ``--engine local
--workers N`` or ``--engine ray`` spreads the images over processes or Ray actors (one detector
each). DIR receives ``results.jsonl`` (ours, one row per image), ``geneval_results.jsonl``
(GenEval's results format), ``summary.json``, ``summary.txt`` (GenEval's per-tag table, overall =
mean over tags or categories) and ``index.html``; ``--html`` adds a page per image. Rows are
appended and fsynced one at a time; run the same command again after a kill and it carries on where
it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compose.cli.console import (
    add_scene_source,
    console,
    err_console,
    load_scene_from_args,
)
from compose.errors import UsageError, VerificationError
from compose.io import read_text


def _detector_options(p) -> None:
    from compose.verification.detection import available_detectors

    p.add_argument("--detector", help=f"detector: {', '.join(available_detectors())} (default: world for "
                                      "scenes of shapes, owlv2 otherwise)")
    p.add_argument("--model", help="for open-vocabulary detectors: a local model folder or a cached hub id")
    p.add_argument("--threshold", type=float, help="detection score threshold (open-vocabulary detectors)")
    p.add_argument("--count-rule", choices=("exact", "at_least"), default=None,
                   help="exact: a count N means N (default for scenes); at_least: N or more (GenEval's include)")
    p.add_argument("--device", help="torch device for model detectors and CLIP (cpu, cuda); default cpu")
    p.add_argument("--detections", metavar="FILE",
                   help="a COCO results file (image, category, bbox, score, optional RLE mask): no detector runs")
    p.add_argument("--clip-model", metavar="MODEL",
                   help="CLIP for colors (a local folder or a cached hub id); default: HSV pixel rules "
                        "(GenEval's protocol: openai/clip-vit-large-patch14)")


def register(subparsers) -> None:
    p = subparsers.add_parser("verify", help="check an image against a scene",
                              description="Detect what is in IMAGE and check it against the scene: counts, "
                                          "colors, relations, forbidden things. Exit 0 when every hard check "
                                          "passes, 6 when one fails.")
    add_scene_source(p)
    p.add_argument("image", metavar="IMAGE", help="the image to check")
    p.add_argument("--layout", metavar="FILE", help="the layout JSON the image was drawn from")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", metavar="DIR", help="write an HTML page (and the JSON) for the image into DIR")
    _detector_options(p)
    p.set_defaults(func=run_verify)

    p = subparsers.add_parser("verify-batch", help="verify many images (resumable; GenEval's format too)",
                              description=__doc__.split("\n\n", 2)[2] if __doc__ else None)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", metavar="FILE", help="a JSONL of {scene|program|prompt|metadata, image|images}")
    source.add_argument("--geneval", metavar="FOLDER", help="GenEval's image folder: <index>/samples/*.png")
    source.add_argument("--images", metavar="FOLDER", help="images named by prompt (T2I-CompBench, LMD); with --prompts")
    p.add_argument("--metadata", metavar="FILE", help="with --geneval: GenEval's evaluation_metadata.jsonl")
    p.add_argument("--prompts", metavar="FILE", nargs="+", help="with --images: prompt files, one prompt a line")
    p.add_argument("--protocol", choices=("compose", "geneval"), default="compose",
                   help="compose's checks (default) or GenEval's own protocol (Mask2Former, 0.3/0.9, CLIP colors)")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="where images are verified")
    p.add_argument("--workers", type=int, help="processes (local, default 1) or Ray actors (ray); one detector each")
    p.add_argument("--address", help="with --engine ray: a running cluster to join")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: the CPUs shared evenly)")
    p.add_argument("--out", metavar="DIR", required=True, help="where results go (and are resumed from)")
    p.add_argument("--html", action="store_true", help="also write an HTML page per image")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=int, help="stop after this many new rows")
    _detector_options(p)
    p.set_defaults(func=run_verify_batch)


def _detector_keywords(args) -> dict[str, Any]:
    """The detector's keyword arguments that the command line set."""
    return {key: getattr(args, key) for key in ("model", "threshold", "device") if getattr(args, key) is not None}


def _make_detector(args):
    from compose.verification.detection import get_detector

    if args.detector is None:
        return None
    return get_detector(args.detector, **_detector_keywords(args))


def _print_report(report) -> None:
    from rich.table import Table

    table = Table(title=f"{'PASSED' if report.passed else 'FAILED'}: {report.image_path or 'image'} "
                        f"({report.detector}, {len(report.detections)} detections)", title_justify="left")
    for column in ("verdict", "kind", "score", "reason"):
        table.add_column(column)
    for c in report.checks:
        verdict = "[green]pass[/]" if c.passed else ("[red]FAIL[/]" if c.hard else "[yellow]fail (soft)[/]")
        from rich.markup import escape

        table.add_row(verdict, c.kind, f"{c.score:.2f}", escape(c.reason))
    console.print(table)


def run_verify(args) -> int:
    from compose.cli.console import print_error
    from compose.layouts import Layout
    from compose.verification import load_image, verify

    scene = load_scene_from_args(args)
    layout = Layout.from_json(read_text(args.layout, "layout")) if args.layout else None
    detector = _make_detector(args)
    image = load_image(args.image)
    detections = None
    if args.detections:
        from compose.verification.coco import DetectionsFile

        detections = DetectionsFile(args.detections).for_image(str(args.image), image.size)
    classifier = None
    if args.clip_model:
        from compose.verification.color import ClipColorClassifier

        classifier = ClipColorClassifier(args.clip_model, device=args.device or "cpu")
    report = verify(scene, image, layout=layout, detector=detector, count_rule=args.count_rule or "exact",
                    image_path=str(args.image), detections=detections, color_classifier=classifier)
    if args.json:
        print(report.to_json())
    else:
        _print_report(report)
    if args.html:
        from compose.io import write_text_atomic

        out = Path(args.html)
        stem = Path(args.image).stem
        write_text_atomic(out / f"{stem}.html", report.to_html(image))
        write_text_atomic(out / f"{stem}.json", report.to_json())
        err_console.print(f"wrote {out / (stem + '.html')}")
    if not report.passed:
        print_error(VerificationError("E501", failed=len(report.failed), total=sum(c.hard for c in report.checks)))
        return VerificationError.exit_code
    return 0


# --- batches ------------------------------------------------------------------------------------

def run_verify_batch(args) -> int:
    from compose.batch.verify import (
        VerifyTask,
        geneval_items,
        prompt_items,
        read_items,
        verify_batch,
    )

    if args.items:
        items = read_items(args.items)
    elif args.geneval:
        items = geneval_items(args.geneval, args.metadata)
    else:
        if not args.prompts:
            raise UsageError("E006", argument="--prompts", value=None, expected="prompt files with --images")
        items = prompt_items(args.images, args.prompts)
    options = _detector_keywords(args)
    task = VerifyTask(protocol=args.protocol, detector=args.detector, detector_options=options,
                      clip_model=args.clip_model, detections=args.detections, count_rule=args.count_rule,
                      html=args.html, device=args.device)
    summary = verify_batch(items, args.out, task, engine=args.engine, workers=args.workers, address=args.address,
                           threads=args.threads, progress=not args.no_progress, limit=args.limit,
                           title=f"verify-batch: {args.items or args.geneval or args.images}")
    out = Path(args.out)
    console.print((out / "summary.txt").read_text(encoding="utf-8").rstrip(), highlight=False, markup=False)
    partial = summary["read_in_part"]
    if partial["images"]:
        err_console.print(f"{partial['images']} images of {len(partial['prompts'])} prompts read only in part: "
                          "not scored (see summary.json)")
    err_console.print(f"{summary['done_now']} verified now ({summary['errors_now']} errors) on {summary['engine']}, "
                      f"{summary['done_before']} from before; {summary['rows']}/{summary['items']} rows in "
                      f"{out / 'results.jsonl'}")
    return 0
