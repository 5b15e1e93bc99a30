"""Generate many images from a spec file, resumably, on one machine or on a Ray cluster.

A spec is JSONL, one item a line::

    {"id": "cube-1", "prompt": "a red square left of a blue circle", "seed": 3}
    {"program": "object star \\"a star\\" count 3\\n", "max_rounds": 0}
    {"scene": "scenes/kitchen.scene", "backbone": "procedural"}

Exactly one of ``prompt`` (text), ``program`` (scene program text) or ``scene`` (a ``.scene``
program or ``.json`` scene file, relative to the spec file), plus optional ``id`` (letters,
digits, ``._-``; default: the line number), ``seed`` (default: the scene's seed, else 0),
``backbone`` and ``max_rounds`` (defaults: the command's). A line that is not such an object
stops the run before anything is done (E601 naming the line); a scene that does not parse, or a
layout that cannot exist, is that item's *error row* and the others go on.

The output folder::

    DIR/results.jsonl        one row per item run, appended as each finishes (the record of what is done)
    DIR/items/<id>/          image.png, round-K.png, scene.scene, layout.json, report.json, report.html, run.json
    DIR/summary.json         counts and rates, rewritten at the end of each run

A row's ``status`` is ``ok`` (every hard check passed), ``failed`` (an image was made but a hard
check still fails after the repaint rounds) or ``error`` (no image: the item raised; the row has
``error: {code, message}``). Running the same command again skips every id that has a row;
``retry_failed`` also runs again the ids whose latest row is an ``error`` (a new row is appended;
the latest row of an id is its result). ``failed`` rows are results, not retried: the same seed
gives the same image.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from compose.batch.items import SAFE_ID, BatchItem, ItemOutput, error_row
from compose.batch.runner import latest_rows, run_batch
from compose.errors import UsageError
from compose.io import loads_json, read_rows, read_text, write_text_atomic
from compose.limits import DEFAULT_ITEM_TIMEOUT, MAX_ROUNDS, check_device, check_run_options
from compose.seeds import MAX_SEED
from compose.sources import scene_from_spec

#: Keys a spec line may have.
SPEC_KEYS = ("id", "prompt", "program", "scene", "seed", "backbone", "max_rounds")
SOURCES = ("prompt", "program", "scene")


def read_spec(path: str | Path) -> list[BatchItem]:
    """The items of a spec file, in order; E601 (naming the line) for a line that is not one.

    Each item's payload is the line's object with ``line`` (its number) and, for ``scene``, the
    path resolved against the spec file's folder.
    """
    path = Path(path)
    items: list[BatchItem] = []
    first_line: dict[str, int] = {}

    def bad(line: int, reason: str) -> UsageError:
        return UsageError("E601", line=line, path=str(path), reason=reason)

    for k, text in enumerate(read_text(path, "batch spec").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            spec = loads_json(text)
        except json.JSONDecodeError as exc:
            raise bad(k, f"not JSON ({exc.msg})") from exc
        except ValueError as exc:
            raise bad(k, f"not JSON ({exc})") from None
        if not isinstance(spec, dict):
            raise bad(k, "expected a JSON object")
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise bad(k, f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(SPEC_KEYS)}")
        sources = [key for key in SOURCES if key in spec]
        if len(sources) != 1:
            raise bad(k, "expected exactly one of 'prompt', 'program' or 'scene'")
        source = sources[0]
        if not isinstance(spec[source], str) or not spec[source].strip():
            raise bad(k, f"'{source}' must be a non-empty string")
        item_id = spec.get("id", k)
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or not re.fullmatch(SAFE_ID, str(item_id)):
            raise bad(k, f"'id' {item_id!r} must be 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
        item_id = str(item_id)
        if item_id in first_line:
            raise bad(k, f"id {item_id!r} is already used on line {first_line[item_id]}")
        first_line[item_id] = k
        for key, top in (("seed", MAX_SEED), ("max_rounds", MAX_ROUNDS)):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top):
                raise bad(k, f"'{key}' must be a whole number from 0 to {top}; got {value!r}")
        if "backbone" in spec:
            try:
                check_backbone(spec["backbone"])
            except UsageError as exc:
                raise bad(k, f"'backbone': {exc.message}") from None
        payload = {key: spec[key] for key in SPEC_KEYS if key in spec and key != "id"}
        payload["line"] = k
        if source == "scene":
            scene_path = Path(spec["scene"])
            payload["scene"] = str(scene_path if scene_path.is_absolute() else path.parent / scene_path)
        items.append(BatchItem(id=item_id, payload=payload))
    return items


def check_backbone(name: Any, options: dict[str, Any] | None = None, argument: str = "--backbone-options") -> None:
    """E401 (exit 2) for an unknown backbone name and E006 for an option its constructor does not
    take (a misspelt key is refused, not silently ignored); checked before any work. The
    backbone's module is imported (its heavy packages are not: they load in ``load()``)."""
    import inspect

    from compose.backbones.base import available_backbones, backbone_class

    names = available_backbones()
    if not isinstance(name, str) or name not in names:
        raise UsageError("E401", name=name, expected=", ".join(names))
    if not options:
        return
    params = inspect.signature(backbone_class(name).__init__).parameters
    swallowing = [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    if swallowing and not swallowing[0].name.startswith("_"):
        return  # passed through on purpose (to a pipeline's from_pretrained)
    known = sorted(k for k, p in params.items() if k != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD)
    for key in options:
        if key not in known:
            raise UsageError("E006", argument=argument, value=key,
                             expected=f"an option of backbone '{name}': {', '.join(known)}")
    if "device" in options and options["device"] is not None:
        check_device(options["device"], argument=f"{argument} device")


def check_detector(name: Any) -> None:
    """E503 (exit 2) for an unknown detector name, before any work."""
    if name is None:
        return
    from compose.verification.detection import available_detectors

    names = available_detectors()
    if not isinstance(name, str) or name not in names:
        raise UsageError("E503", name=name, expected=", ".join(names))


@dataclass
class GenerateTask:
    """One spec item to one generated, verified image: what each batch worker runs.

    Picklable; :meth:`setup` loads the default backbone once per worker, and every backbone an
    item asks for is kept for the worker's later items.
    """

    backbone: str = "embedded"
    max_rounds: int = 3
    steps: int | None = None
    guidance: float | None = None
    detector: str | None = None
    backbone_options: dict[str, Any] = field(default_factory=dict)
    _models: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:  # loaded models stay in the worker that loaded them
        state = dict(self.__dict__)
        state["_models"] = {}
        return state

    def setup(self) -> None:
        self.model(self.backbone)

    def model(self, name: str):
        if name not in self._models:
            from compose.backbones import get_backbone

            model = get_backbone(name, **self.backbone_options)
            load = getattr(model, "load", None)
            if callable(load):
                load()
            self._models[name] = model
        return self._models[name]

    def __call__(self, item: BatchItem) -> ItemOutput:
        from compose.loop import generate, write_outputs

        started = time.perf_counter()
        spec = item.payload
        scene = scene_from_spec(spec)
        backbone = spec.get("backbone", self.backbone)
        max_rounds = spec.get("max_rounds", self.max_rounds)
        result = generate(scene, backbone=self.model(backbone), seed=spec.get("seed"), max_rounds=max_rounds,
                          steps=self.steps, guidance=self.guidance, detector=self.detector)
        with tempfile.TemporaryDirectory(prefix="compose-item-") as tmp:
            write_outputs(result, Path(tmp))
            files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        folder = f"items/{item.id}"
        hard = [c for c in result.report.checks if c.hard]
        row = {"status": "ok" if result.passed else "failed", "passed": result.passed, "line": spec["line"],
               "source": next(key for key in SOURCES if key in spec), "prompt": scene.prompt,
               "seed": result.seed, "backbone": backbone, "max_rounds": max_rounds,
               "rounds": len(result.rounds) - 1, "best_round": result.best,
               "hard_passed": sum(bool(c.passed) for c in hard), "hard_total": len(hard),
               "cost": {k: v for k, v in result.cost.to_dict().items() if k != "seconds"},  # NFE, renders' worth
               "dir": folder, "image": f"{folder}/image.png",
               "paths": {name: f"{folder}/{name}" for name in files},
               "timings": {**{k: round(v, 4) for k, v in result.timings.items()},
                           "compute": round(result.cost.seconds, 4),  # wall time of renders and repairs
                           "total": round(time.perf_counter() - started, 4)}}
        return ItemOutput(row, files)


def error_item_row(item: BatchItem, exc: BaseException, backbone: str | None = None) -> dict[str, Any]:
    """The row of an item that raised: ``status: error`` with the error's code and message."""
    spec = item.payload
    return {"id": item.id, "status": "error", "passed": False, "line": spec["line"],
            "source": next(key for key in SOURCES if key in spec), "seed": spec.get("seed"),
            "backbone": spec.get("backbone", backbone), "error": error_row(item.id, exc)["error"]}


def is_error(row: dict[str, Any]) -> bool:
    """Whether a row is an error row (what ``retry_failed`` runs again)."""
    return row.get("status") == "error" or "error" in row


def generate_batch(spec: str | Path, out: str | Path, *, engine: str = "local", workers: int | None = None,
                   address: str | None = None, retry_failed: bool = False, backbone: str = "embedded",
                   max_rounds: int = 3, steps: int | None = None, guidance: float | None = None,
                   detector: str | None = None, backbone_options: dict[str, Any] | None = None,
                   threads: int | None = None, gpus_per_worker: float | None = None, progress: bool = True,
                   limit: int | None = None, item_timeout: float | None = DEFAULT_ITEM_TIMEOUT) -> dict[str, Any]:
    """Generate every item of ``spec`` into ``out`` (see the module docstring); returns the
    summary (also written to ``out/summary.json``).

    ``engine`` is ``"local"`` (``workers`` processes, default 1 = this process) or ``"ray"``
    (``workers`` actors, default one per GPU, else per CPU; ``address`` joins a cluster).
    """
    from compose.batch.engines import get_engine

    # run-level options are checked once, here, before any item: a mistake in them is the
    # run's error (exit 2), not the same error row for every item
    check_run_options(steps=steps, guidance=guidance, max_rounds=max_rounds, threads=threads, workers=workers,
                      limit=limit, item_timeout=item_timeout)
    check_backbone(backbone, backbone_options)
    check_detector(detector)
    items = read_spec(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = GenerateTask(backbone=backbone, max_rounds=max_rounds, steps=steps, guidance=guidance,
                        detector=detector, backbone_options=dict(backbone_options or {}))
    if engine == "ray":
        options: dict[str, Any] = {"workers": workers, "address": address, "threads": threads,
                                   "gpus_per_worker": gpus_per_worker, "item_timeout": item_timeout}
    else:
        if address is not None:
            raise UsageError("E006", argument="address", value=address, expected="nothing with the local engine "
                                                                                  "(--address joins a Ray cluster)")
        options = {"workers": workers or 1, "threads": threads, "item_timeout": item_timeout}
    runner = get_engine(engine, **options)
    try:
        stats = run_batch(items, task, results=out / "results.jsonl", on_error=partial(error_item_row, backbone=backbone),
                          progress=progress, description=f"generating ({runner.describe()})", limit=limit,
                          engine=runner, retry=is_error if retry_failed else None, files_dir=out / "items")
        described = runner.describe()
    finally:
        runner.close()
    summary = summarise(out / "results.jsonl", [item.id for item in items])
    summary.update({"engine": described, "done_now": stats.done_now, "done_before": stats.done_before,
                    "seconds_now": round(stats.seconds, 3),
                    "items_per_second_now": round(stats.rows_per_second, 4)})
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def summarise(results: str | Path, ids: list[str]) -> dict[str, Any]:
    """Counts over the latest row of each of ``ids``: ok (passed), failed, error, pending."""
    latest = latest_rows(read_rows(results))
    rows = [latest[i] for i in ids if i in latest]
    count = {status: sum(r.get("status") == status for r in rows) for status in ("ok", "failed", "error")}
    return {"items": len(ids), "done": len(rows), "pending": len(ids) - len(rows), "passed": count["ok"],
            "failed": count["failed"], "errors": count["error"],
            "pass_rate": round(count["ok"] / len(rows), 4) if rows else None}
