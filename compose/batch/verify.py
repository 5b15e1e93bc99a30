"""Verify many images, resumably, on any engine: ``compose verify-batch``'s task and item readers.

Items come from one of three sources, each a list of :class:`~compose.batch.items.BatchItem`
whose payload is plain data (so it pickles to any worker):

- :func:`read_items`: a JSONL of ``{"id"?, "scene": FILE | "program": TEXT | "prompt": TEXT |
  "metadata": {GenEval metadata}, "image": PATH | "images": [PATH...], "layout"?: FILE,
  "tag"?: TEXT}`` (paths relative to the file);
- :func:`geneval_items`: GenEval's image folder, ``<index>/samples/*.png``;
- :func:`prompt_items`: images named by their prompt with prompt files (T2I-CompBench, LMD;
  :mod:`compose.verification.folders`).

:class:`VerifyTask` verifies one item: with compose's checks (``protocol="compose"``, any
detector) or with GenEval's own protocol (``protocol="geneval"``: Mask2Former, its thresholds,
CLIP colors; :class:`compose.verification.geneval.GenevalProtocol`), on detections from a
detector or from a COCO results file (``detections``). It is picklable: each worker (a local
process or a Ray actor) loads one detector in :meth:`VerifyTask.setup` and keeps it.

:func:`verify_batch` runs it with :func:`compose.batch.runner.run_batch` and writes ``results.jsonl``
(one row per image, appended and fsynced, the record of what is done), ``geneval_results.jsonl``
(GenEval's results format, in queue order), ``summary.json``, ``summary.txt`` (GenEval's table:
overall = mean over tags or categories) and ``index.html`` (:func:`compose.verification.report.batch_html`).
The rows do not depend on the engine or the number of workers; ``geneval_results.jsonl`` and the
summaries are the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compose.batch.items import BatchItem, ItemOutput, error_row
from compose.batch.runner import latest_rows, run_batch
from compose.errors import UsageError
from compose.io import loads_json, read_rows, read_text, write_rows_atomic, write_text_atomic

#: Where an items line's scene comes from.
ITEM_SOURCES = ("scene", "program", "prompt", "metadata")
PROTOCOLS = ("compose", "geneval")


def read_items(path: str | Path) -> list[BatchItem]:
    """The items of a verify-batch JSONL, one per image; E601 (naming the line) for a line that
    is not one. Paths are resolved against the file's folder."""
    path = Path(path)
    base = path.parent

    def resolve(value: str) -> str:
        p = Path(value)
        return str(p if p.is_absolute() else base / p)

    items = []
    for k, line in enumerate(read_text(path, "batch items").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spec = loads_json(line)
        except json.JSONDecodeError as exc:
            raise UsageError("E601", line=k, path=str(path), reason=f"not JSON ({exc.msg})") from exc
        except ValueError as exc:  # nested too deep, a number of thousands of digits
            raise UsageError("E601", line=k, path=str(path), reason=f"not JSON ({exc})") from None
        if not isinstance(spec, dict):
            raise UsageError("E601", line=k, path=str(path), reason="expected a JSON object")
        kinds = [key for key in ITEM_SOURCES if key in spec]
        if len(kinds) != 1:
            raise UsageError("E601", line=k, path=str(path),
                             reason="expected exactly one of 'scene', 'program', 'prompt' or 'metadata'")
        if "metadata" in spec and not isinstance(spec["metadata"], dict):
            raise UsageError("E601", line=k, path=str(path), reason="'metadata' must be a JSON object")
        if spec.get("tag") is not None and not isinstance(spec["tag"], str):
            raise UsageError("E601", line=k, path=str(path), reason="'tag' must be a string")
        images = spec.get("images", [spec["image"]] if "image" in spec else None)
        if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
            raise UsageError("E601", line=k, path=str(path), reason="expected 'image': PATH or 'images': [PATH, ...]")
        source = {key: spec[key] for key in ITEM_SOURCES if key in spec}
        if "scene" in source:
            source["scene"] = resolve(source["scene"])
        payload_base = {"kind": "items", "line": k, "source": source, "tag": spec.get("tag"),
                        "layout": resolve(spec["layout"]) if spec.get("layout") else None, "file": str(path)}
        ident = str(spec.get("id", k))
        for j, image in enumerate(images):
            item_id = ident if "image" in spec and "images" not in spec else f"{ident}/{j}"
            items.append(BatchItem(id=item_id, payload={**payload_base, "image": resolve(image)}))
    return items


def geneval_items(root: str | Path, metadata: str | Path | None = None) -> list[BatchItem]:
    """GenEval's image folder as items (ids ``"<index>/<name>"``)."""
    from compose.verification.geneval import image_folder_items

    return [BatchItem(id=i, payload={"kind": "geneval", "metadata": m, "image": path})
            for i, path, m in image_folder_items(root, metadata)]


def prompt_items(images: str | Path, prompt_files: list[str], categories: list[str] | None = None) -> list[BatchItem]:
    """A folder of images named by prompt, with prompt files, as items (ids ``"<category>/<name>"``)."""
    from compose.verification.folders import prompt_folder_items

    return [BatchItem(id=i, payload={"kind": "prompt", "prompt": prompt, "tag": category, "image": path})
            for i, path, prompt, category in prompt_folder_items(images, prompt_files, categories)]


def _metadata(payload: dict[str, Any], prompt: str | None = None) -> dict[str, Any]:
    if payload["kind"] == "geneval":
        return payload["metadata"]
    if payload["kind"] == "items" and "metadata" in payload["source"]:
        return payload["source"]["metadata"]
    return {"tag": payload.get("tag"), "prompt": prompt or payload.get("prompt") or payload.get("source", {}).get("prompt")}


@dataclass
class VerifyTask:
    """One item (an image and what it should show) to one result row: what each worker runs.

    Parameters
    ----------
    protocol : {"compose", "geneval"}
        compose's checks, or GenEval's own protocol (GenEval metadata only).
    detector : str, optional
        A registered detector (default: ``mask2former`` for the GenEval protocol; for compose's,
        the world's for scenes of shapes and ``owlv2`` otherwise, each loaded once per worker).
    detector_options : dict
        Options for the detector (``model``, ``threshold``...).
    clip_model : str, optional
        CLIP for colors (GenEval's protocol always uses CLIP, by default
        ``openai/clip-vit-large-patch14``; compose's uses HSV rules unless this is given).
    detections : str, optional
        A COCO results file (:class:`compose.verification.coco.DetectionsFile`): no detector runs.
    count_rule : str, optional
        For compose's checks (default: ``exact`` for scenes, ``at_least`` for GenEval metadata).
    html : bool
        Also make a report page per image (written by the runner into ``pages/<id>/``).
    device : str, optional
        Torch device for CLIP (give the detector's in ``detector_options``); on Ray with GPUs,
        ``cuda`` is the actor's own GPU.
    """

    protocol: str = "compose"
    detector: str | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    clip_model: str | None = None
    detections: str | None = None
    count_rule: str | None = None
    html: bool = False
    device: str | None = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise UsageError("E006", argument="protocol", value=self.protocol, expected=" or ".join(PROTOCOLS))

    def __getstate__(self) -> dict[str, Any]:  # loaded models stay in the worker that loaded them
        state = dict(self.__dict__)
        state["_state"] = {}
        return state

    # --- what a worker loads once ------------------------------------------------------------

    def setup(self) -> None:
        if self.detections is not None:
            self.detections_file()
        elif self.protocol == "geneval" or self.detector is not None:
            self.named_detector(self.detector or "mask2former")

    def detections_file(self):
        if "detections" not in self._state:
            from compose.verification.coco import DetectionsFile

            self._state["detections"] = DetectionsFile(self.detections)
        return self._state["detections"]

    def named_detector(self, name: str):
        key = f"detector:{name}"
        if key not in self._state:
            from compose.verification.detection import get_detector

            options = dict(self.detector_options)
            if self.protocol == "geneval" and name == "mask2former":
                options["threshold"] = 0.0  # GenEval's own thresholds decide
            self._state[key] = get_detector(name, **options)
        return self._state[key]

    def color_classifier(self):
        if self.protocol != "geneval" and self.clip_model is None:
            return None
        if "clip" not in self._state:
            from compose.verification.color import ClipColorClassifier

            self._state["clip"] = ClipColorClassifier(self.clip_model or "openai/clip-vit-large-patch14",
                                                     device=self.device or "cpu")
        return self._state["clip"]

    def scene(self, payload: dict[str, Any]):
        """The item's scene and count rule, built once per worker and source."""
        from compose.sources import load_scene, parse_program, parse_prompt
        from compose.verification.geneval import GENEVAL_COUNT_RULE, scene_from_metadata

        source = payload.get("source") or {}
        key = json.dumps([payload["kind"], source, payload.get("metadata"), payload.get("prompt")], sort_keys=True)
        cache = self._state.setdefault("scenes", {})
        if key not in cache:
            if payload["kind"] == "geneval" or "metadata" in source:
                cache[key] = (scene_from_metadata(_metadata(payload)), GENEVAL_COUNT_RULE)
            elif payload["kind"] == "prompt":
                cache[key] = (parse_prompt(payload["prompt"]), "exact")
            elif "scene" in source:
                cache[key] = (load_scene(source["scene"]), "exact")
            elif "program" in source:
                cache[key] = (parse_program(source["program"], file=f"{payload['file']}:{payload['line']}"), "exact")
            else:
                cache[key] = (parse_prompt(source["prompt"]), "exact")
        return cache[key]

    def check(self, items: list[BatchItem]) -> None:
        """Fail before any image, not on each: an unknown detector (E503), a model that is not on
        this machine (E504), a detections file that cannot be read (E506)."""
        from compose.verification.detection import detector_class
        from compose.weights import resolve_model

        if self.detections is not None:
            self.detections_file()
        elif self.protocol == "geneval" or self.detector is not None:
            cls = detector_class(self.detector or "mask2former")
            default = getattr(cls, "default_model", None)
            if default is not None:
                resolve_model(cls.name, self.detector_options.get("model") or default)
        wants_color = any("color" in req for item in items
                          for req in (_metadata(item.payload).get("include") or []))
        if (self.protocol == "geneval" and wants_color) or self.clip_model is not None:
            resolve_model("clip-color", self.clip_model or "openai/clip-vit-large-patch14")

    # --- one item ----------------------------------------------------------------------------

    def __call__(self, item: BatchItem) -> dict[str, Any] | ItemOutput:
        from compose.verification.detection import load_image

        payload = item.payload
        image = load_image(payload["image"])
        given = (self.detections_file().for_image(payload["image"], image.size, item.id)
                 if self.detections is not None else None)
        if self.protocol == "geneval":
            return self._geneval(item, image, given)
        return self._compose(item, image, given)

    def _geneval(self, item: BatchItem, image, given) -> dict[str, Any]:
        from compose.verification.geneval import GenevalProtocol

        payload = item.payload
        if payload["kind"] != "geneval" and "metadata" not in (payload.get("source") or {}):
            raise UsageError("E006", argument="protocol", value="geneval",
                             expected="GenEval metadata for every item (GenEval's protocol judges its own prompts); "
                                      "use --protocol compose for scenes and prompts")
        metadata = _metadata(payload)
        detector = None if given is not None else self.named_detector(self.detector or "mask2former")
        if given is None:
            classes = sorted({str(r["class"]) for r in [*metadata.get("include", []), *metadata.get("exclude", [])]})
            given = detector.detect(image, classes)

        class LazyColors:  # CLIP is loaded only when a prompt names a color
            def classify_many(inner, *args):
                return self.color_classifier().classify_many(*args)

        row = GenevalProtocol(color_classifier=LazyColors()).evaluate(image, metadata, filename=payload["image"],
                                                                      detections=given)
        details = json.loads(row["details"])
        w, h = image.size
        boxes = [{"box": [round(b[0] / w, 5), round(b[1] / h, 5), round(b[2] / w, 5), round(b[3] / h, 5)],
                  "class": name, "score": round(b[4], 5)} for name, found in details.items() for b in found]
        return {"image": payload["image"], "protocol": "geneval", "tag": metadata.get("tag"),
                "prompt": metadata.get("prompt"), "correct": row["correct"], "score": 1.0 if row["correct"] else 0.0,
                "reason": row["reason"], "detections": boxes, "geneval": row}

    def _compose(self, item: BatchItem, image, given) -> dict[str, Any] | ItemOutput:
        from compose.layouts import Layout
        from compose.verification import default_detector_name, verify
        from compose.verification.geneval import results_row

        payload = item.payload
        scene, rule = self.scene(payload)
        metadata = _metadata(payload, scene.prompt)
        layout = Layout.from_json(read_text(payload["layout"], "layout")) if payload.get("layout") else None
        detector = None
        if given is None:
            detector = self.named_detector(self.detector or default_detector_name(scene))
        report = verify(scene, image, layout=layout, detector=detector, detections=given,
                        count_rule=self.count_rule or rule, color_classifier=self.color_classifier(),
                        image_path=payload["image"])
        row: dict[str, Any] = {
            "image": payload["image"], "protocol": "compose", "tag": metadata.get("tag"), "prompt": metadata.get("prompt"),
            "correct": report.passed, "score": round(report.score, 4),
            "reason": "\n".join(c.reason for c in report.failed),
            "checks": [c.to_dict() for c in report.checks],
            "detections": [d.to_dict() for d in report.detections],
            "geneval": results_row(report, payload["image"], metadata)}
        if payload["kind"] == "prompt":
            row["category"] = payload["tag"]
            if scene.warnings:
                # the reader understood the prompt only in part: not the image's failure
                row["read_in_part"] = True
                row["warnings"] = [w.message for w in scene.warnings]
        if self.html:
            page = report.to_html(image, title=f"{item.id}: {metadata.get('prompt') or ''}")
            row["page"] = f"pages/{item.id}/report.html"
            return ItemOutput(row, {"report.html": page.encode("utf-8")})
        return row


def verify_error_row(item: BatchItem, exc: BaseException) -> dict[str, Any]:
    """The row of an item that raised: ``correct: false`` with the error's code and message; a
    prompt the reader could not read at all is ``read_in_part`` (not scored)."""
    from compose.verification.geneval import results_row

    row = error_row(item.id, exc)
    payload = item.payload
    metadata = _metadata(payload)
    code, message = row["error"]["code"], row["error"]["message"]
    row.update({"image": payload["image"], "tag": metadata.get("tag"), "prompt": metadata.get("prompt"),
                "correct": False, "reason": message,
                "geneval": results_row(None, payload["image"], metadata, error=f"{code}: {message}")})
    if payload["kind"] == "prompt":
        row["category"] = payload["tag"]
        if re.fullmatch(r"E[12]\d\d", str(code)):
            row["read_in_part"] = True
            row["warnings"] = [message]
    return row


def summarise(rows: list[dict[str, Any]], items: int) -> dict[str, Any]:
    """GenEval's summary (:func:`~compose.verification.geneval.tag_accuracy`) of the rows that
    are scored, plus the prompts read only in part (left out of the scores)."""
    from compose.verification.geneval import tag_accuracy

    scored = [r for r in rows if not r.get("read_in_part")]
    summary = tag_accuracy(r.get("geneval") or r for r in scored)
    partial = [r for r in rows if r.get("read_in_part")]
    prompts: dict[str, list[str]] = {}
    for r in partial:
        prompts.setdefault(str(r.get("prompt")), r.get("warnings") or [])
    summary.update({"items": items, "rows": len(rows), "errors": sum("error" in r for r in rows),
                    "read_in_part": {"images": len(partial), "prompts": [{"prompt": p, "warnings": w}
                                                                         for p, w in prompts.items()]}})
    return summary


def verify_batch(items: list[BatchItem], out: str | Path, task: VerifyTask, *, engine: str = "local",
                 workers: int | None = None, address: str | None = None, threads: int | None = None,
                 progress: bool = True, limit: int | None = None, title: str = "verify-batch") -> dict[str, Any]:
    """Verify ``items`` into ``out`` (see the module docstring) on ``engine`` (``local``:
    ``workers`` processes, default 1 = this process; ``ray``: ``workers`` actors, ``address`` a
    cluster); returns the summary (also ``out/summary.json``)."""
    from compose.batch.engines import get_engine
    from compose.verification.geneval import summary_table
    from compose.verification.report import batch_html

    task.check(items)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if engine == "ray":
        options: dict[str, Any] = {"workers": workers, "address": address, "threads": threads}
    else:
        if address is not None:
            raise UsageError("E006", argument="address", value=address,
                             expected="nothing with the local engine (--address joins a Ray cluster)")
        options = {"workers": workers or 1, "threads": threads}
    runner = get_engine(engine, **options)
    try:
        stats = run_batch(items, task, results=out / "results.jsonl", on_error=verify_error_row, progress=progress,
                          description=f"verifying ({runner.describe()})", limit=limit, engine=runner,
                          files_dir=out / "pages")
        described = runner.describe()
    finally:
        runner.close()
    latest = latest_rows(read_rows(out / "results.jsonl"))
    rows = [latest[item.id] for item in items if item.id in latest]
    # queue order, so the file is the same whichever engine ran and in what order items finished
    write_rows_atomic(out / "geneval_results.jsonl", (r["geneval"] for r in rows if r.get("geneval")))
    summary = summarise(rows, len(items))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / "summary.txt", summary_table(summary) + "\n")
    write_text_atomic(out / "index.html", batch_html(summary, rows, title=title, base=out))
    summary.update({"engine": described, "done_now": stats.done_now, "done_before": stats.done_before,
                    "errors_now": stats.errors, "seconds_now": round(stats.seconds, 3),
                    "images_per_second_now": round(stats.rows_per_second, 3)})
    return summary
