"""``compose verify`` (one image against a scene) and ``compose verify-batch`` (many, resumable).

``compose verify FILE|--prompt TEXT IMAGE`` prints every check with its verdict (``--json``: the
report JSON; ``--html DIR``: a page with the image, the boxes and the checks) and exits 0 when
every hard check passes, 6 (E501) when one fails.

``compose verify-batch --items ITEMS.jsonl --out DIR`` or ``--geneval FOLDER --out DIR`` verifies a
batch. ITEMS lines are ``{"id"?, "scene": FILE | "program": TEXT | "prompt": TEXT | "metadata": {GenEval
metadata}, "image": PATH | "images": [PATH...], "layout"?: FILE, "tag"?: TEXT}`` (paths relative to
the ITEMS file). FOLDER is GenEval's layout: ``<index>/samples/*.png`` with ``<index>/metadata.jsonl``
or ``--metadata FILE`` (line ``index``). DIR receives ``results.jsonl`` (ours, one row per image),
``geneval_results.jsonl`` (GenEval's results format), ``summary.json``, ``summary.txt`` (GenEval's
per-tag table, overall = mean over tags) and ``index.html``; ``--html`` adds a page per image.
Rows are appended and fsynced one at a time; run the same command again after a kill and it
carries on where it stopped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from compose.cli.console import (
    add_scene_source,
    console,
    err_console,
    load_scene_from_args,
)
from compose.errors import ComposeError, UsageError, VerificationError
from compose.io import read_text


def _detector_options(p) -> None:
    from compose.verify.detection import available_detectors

    p.add_argument("--detector", help=f"detector: {', '.join(available_detectors())} (default: world for "
                                      "scenes of shapes, owlv2 otherwise)")
    p.add_argument("--model", help="for open-vocabulary detectors: a local model folder or a cached hub id")
    p.add_argument("--threshold", type=float, help="detection score threshold (open-vocabulary detectors)")
    p.add_argument("--count-rule", choices=("exact", "at_least"), default=None,
                   help="exact: a count N means N (default for scenes); at_least: N or more (GenEval's include)")


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
    p.add_argument("--metadata", metavar="FILE", help="with --geneval: GenEval's evaluation_metadata.jsonl")
    p.add_argument("--out", metavar="DIR", required=True, help="where results go (and are resumed from)")
    p.add_argument("--html", action="store_true", help="also write an HTML page per image")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=int, help="stop after this many new rows")
    _detector_options(p)
    p.set_defaults(func=run_verify_batch)


def _make_detector(args):
    from compose.verify.detection import get_detector

    if args.detector is None:
        return None
    options: dict[str, Any] = {}
    if args.model is not None:
        options["model"] = args.model
    if args.threshold is not None:
        options["threshold"] = args.threshold
    return get_detector(args.detector, **options)


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
    from compose.verify import load_image, verify

    scene = load_scene_from_args(args)
    layout = Layout.from_json(read_text(args.layout, "layout")) if args.layout else None
    detector = _make_detector(args)
    image = load_image(args.image)
    report = verify(scene, image, layout=layout, detector=detector, count_rule=args.count_rule or "exact",
                    image_path=str(args.image))
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

class _ItemSource:
    """The scenes of an items JSONL, parsed once per line (a failure is kept and re-raised for
    each of the line's images, which become error rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent
        self._scenes: dict[int, Any] = {}

    def resolve(self, value: str) -> str:
        p = Path(value)
        return str(p if p.is_absolute() else self.base / p)

    def scene(self, line: int, spec: dict[str, Any]):
        if line not in self._scenes:
            try:
                self._scenes[line] = self._build(spec)
            except ComposeError as exc:
                self._scenes[line] = exc
        found = self._scenes[line]
        if isinstance(found, ComposeError):
            raise found
        return found

    def _build(self, spec: dict[str, Any]):
        from compose.verify.geneval import GENEVAL_COUNT_RULE, scene_from_metadata

        if "metadata" in spec:
            return scene_from_metadata(spec["metadata"]), GENEVAL_COUNT_RULE
        if "scene" in spec:
            from compose.api import load_scene

            return load_scene(self.resolve(spec["scene"])), "exact"
        if "program" in spec:
            from compose.api import parse_program

            return parse_program(spec["program"], file=f"{self.path}:{spec.get('_line')}"), "exact"
        from compose.api import parse_prompt

        return parse_prompt(spec["prompt"]), "exact"


def _items_from_jsonl(path: Path):
    from compose.batch import BatchItem

    source = _ItemSource(path)
    items = []
    for k, line in enumerate(read_text(path, "batch items").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError("E601", line=k, path=str(path), reason=f"not JSON ({exc.msg})") from exc
        if not isinstance(spec, dict):
            raise UsageError("E601", line=k, path=str(path), reason="expected a JSON object")
        kinds = [key for key in ("scene", "program", "prompt", "metadata") if key in spec]
        if len(kinds) != 1:
            raise UsageError("E601", line=k, path=str(path),
                             reason="expected exactly one of 'scene', 'program', 'prompt' or 'metadata'")
        if "metadata" in spec and not isinstance(spec["metadata"], dict):
            raise UsageError("E601", line=k, path=str(path), reason="'metadata' must be a JSON object")
        if "tag" in spec and not isinstance(spec["tag"], str):
            raise UsageError("E601", line=k, path=str(path), reason="'tag' must be a string")
        images = spec.get("images", [spec["image"]] if "image" in spec else None)
        if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
            raise UsageError("E601", line=k, path=str(path), reason="expected 'image': PATH or 'images': [PATH, ...]")
        spec["_line"] = k
        base = str(spec.get("id", k))
        for j, image in enumerate(images):
            item_id = base if "image" in spec and "images" not in spec else f"{base}/{j}"
            items.append(BatchItem(id=item_id, payload={"line": k, "spec": spec, "image": source.resolve(image)}))
    return items, source


def run_verify_batch(args) -> int:
    from compose.batch import BatchItem, read_rows, run_batch
    from compose.io import write_text_atomic
    from compose.layouts import Layout
    from compose.verify import load_image, verify
    from compose.verify.geneval import (
        GENEVAL_COUNT_RULE,
        image_folder_items,
        results_row,
        scene_from_metadata,
    )
    from compose.verify.report import batch_html, summary_table, tag_accuracy

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    detector = _make_detector(args)
    if args.items:
        items, source = _items_from_jsonl(Path(args.items))
    else:
        found = image_folder_items(args.geneval, args.metadata)
        items = [BatchItem(id=i, payload={"metadata": m, "image": path}) for i, path, m in found]
        source = None
        scenes: dict[str, Any] = {}
    pages = out / "pages"
    detectors: dict[str, Any] = {}

    def detector_for(scene):
        """The batch's detector, or the scene's default one, loaded once per name."""
        from compose.verify import default_detector_name
        from compose.verify.detection import get_detector

        if detector is not None:
            return detector
        name = default_detector_name(scene)
        if name not in detectors:
            try:
                detectors[name] = get_detector(name)
            except ComposeError as exc:
                detectors[name] = exc
        if isinstance(detectors[name], ComposeError):
            raise detectors[name]
        return detectors[name]

    def work(item) -> dict[str, Any]:
        payload = item.payload
        if source is not None:
            scene, rule = source.scene(payload["line"], payload["spec"])
            spec = payload["spec"]
            metadata = spec.get("metadata") or {"tag": spec.get("tag"), "prompt": scene.prompt or spec.get("prompt")}
            layout = (Layout.from_json(read_text(source.resolve(spec["layout"]), "layout")) if spec.get("layout") else None)
        else:
            metadata = payload["metadata"]
            key = json.dumps(metadata, sort_keys=True)
            if key not in scenes:
                scenes[key] = scene_from_metadata(metadata)
            scene, rule, layout = scenes[key], GENEVAL_COUNT_RULE, None
        image = load_image(payload["image"])
        report = verify(scene, image, layout=layout, detector=detector_for(scene),
                        count_rule=args.count_rule or rule, image_path=payload["image"])
        row = {"image": payload["image"], "tag": metadata.get("tag"), "prompt": metadata.get("prompt"),
               "correct": report.passed, "score": round(report.score, 4),
               "reason": "\n".join(c.reason for c in report.failed),
               "checks": [c.to_dict() for c in report.checks],
               "detections": [d.to_dict() for d in report.detections],
               "geneval": results_row(report, payload["image"], metadata)}
        if args.html:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", item.id) + ".html"
            write_text_atomic(pages / name, report.to_html(image, title=f"{item.id}: {metadata.get('prompt') or ''}"))
            row["page"] = f"pages/{name}"
        return row

    def on_error(item, exc) -> dict[str, Any]:
        from compose.batch import error_row

        row = error_row(item.id, exc)
        payload = item.payload
        spec = payload.get("spec", {})
        metadata = payload.get("metadata") or spec.get("metadata") or {"tag": spec.get("tag"), "prompt": spec.get("prompt")}
        row.update({"image": payload["image"], "tag": metadata.get("tag"), "prompt": metadata.get("prompt"),
                    "correct": False, "reason": row["error"]["message"],
                    "geneval": results_row(None, payload["image"], metadata,
                                           error=f"{row['error']['code']}: {row['error']['message']}")})
        return row

    stats = run_batch(items, work, results=out / "results.jsonl",
                      derived={out / "geneval_results.jsonl": lambda row: row.get("geneval")},
                      on_error=on_error, progress=not args.no_progress, description="verifying", limit=args.limit)
    rows = read_rows(out / "results.jsonl")
    wanted = {item.id for item in items}
    rows = [r for r in rows if r.get("id") in wanted]
    summary = tag_accuracy(r.get("geneval") or r for r in rows)
    summary.update({"items": len(items), "rows": len(rows), "errors": sum("error" in r for r in rows),
                    "done_now": stats.done_now, "done_before": stats.done_before,
                    "images_per_second_now": round(stats.rows_per_second, 2)})
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    table = summary_table(summary)
    write_text_atomic(out / "summary.txt", table + "\n")
    page_links = {r["id"]: r["page"] for r in rows if r.get("page")}
    write_text_atomic(out / "index.html", batch_html(summary, rows, title=f"verify-batch: {args.items or args.geneval}",
                                                     pages=page_links))
    console.print(table, highlight=False, markup=False)
    err_console.print(f"{stats.done_now} verified now ({stats.errors} errors), {stats.done_before} from before; "
                      f"{len(rows)}/{len(items)} rows in {out / 'results.jsonl'}")
    return 0
