"""GenEval's formats: its prompt metadata as scenes, its image folders, its results rows.

GenEval (Ghosh, Hajishirzi, Schmidt 2023; MIT licence) describes each prompt by metadata:
``tag``, ``prompt``, ``include`` (a list of ``{class, count, color?, position?: [relation,
index]}``) and ``exclude`` (``{class, count}``: that many must not appear). Generated images live in
``<root>/<index>/samples/<k>.png`` with the prompt's metadata in ``<root>/<index>/metadata.jsonl``
(or line ``index`` of one metadata JSONL). Results are one JSON row per image: ``filename``,
``tag``, ``prompt``, ``correct``, ``reason``, ``metadata`` (the metadata as a JSON string) and
``details`` (detected boxes per class, as a JSON string).

:func:`scene_from_metadata` builds a :class:`~compose.scene.Scene` straight from ``include`` and
``exclude``, without the prompt parser: one group per include entry (its class, count and color),
a relation statement per ``position`` (GenEval's words map to ``left_of``, ``right_of``, ``above``,
``below``, whose predicates are GenEval's rule), and a ``require count(x) < n`` per exclude. It is
checked under the ``at_least`` count rule, as GenEval's ``include`` means.

Examples
--------
>>> meta = {"tag": "position", "prompt": "a photo of a train right of a dining table",
...         "include": [{"class": "dining table", "count": 1}, {"class": "train", "count": 1,
...                      "position": ["right of", 0]}]}
>>> scene = scene_from_metadata(meta)
>>> [(g.name, g.class_name) for g in scene.objects]
[('dining_table', 'dining table'), ('train', 'train')]
>>> [(r.subject, r.predicate, r.object) for r in scene.relations()]
[('train#0', 'right_of', 'dining_table#0')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.errors import UsageError
from compose.relations import GENEVAL_POSITION_THRESHOLD, GENEVAL_POSITIONS, geneval_relations
from compose.vocabulary import GENEVAL_COLORS

if TYPE_CHECKING:  # pragma: no cover
    from compose.scene import Scene
    from compose.verification.report import Report

#: The count rule GenEval's ``include`` means: at least ``count``.
GENEVAL_COUNT_RULE = "at_least"


def _group_name(class_name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", class_name.strip().lower()).strip("_") or "object"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def scene_from_metadata(metadata: dict[str, Any]) -> Scene:
    """A scene from GenEval metadata (``include``, ``exclude``, ``prompt``); raises
    ``UsageError`` E006 when an entry is malformed."""
    from compose.scene import ObjectGroup, Ref, RelationStatement, Requirement, Scene

    include = metadata.get("include")
    if not isinstance(include, list) or not include:
        raise UsageError("E006", argument="GenEval metadata 'include'", value=include,
                         expected="a non-empty list of {class, count, color?, position?}")
    taken: set[str] = set()
    groups, names, statements = [], [], []
    try:
        for entry in include:
            cls = str(entry["class"])
            name = _group_name(cls, taken)
            names.append(name)
            color = entry.get("color")
            groups.append(ObjectGroup(name=name, phrase=f"{color + ' ' if color else ''}{cls}", count=int(entry.get("count", 1)),
                                      color=color, **{"class": cls}))
        for entry, name in zip(include, names):
            if "position" in entry:
                words, target = entry["position"]
                statements.append(RelationStatement(subject=Ref(group=name), predicate=GENEVAL_POSITIONS[words],
                                                    objects=[Ref(group=names[int(target)])]))
        requirements = []
        for entry in metadata.get("exclude", []) or []:
            cls = str(entry["class"])
            target = next((g.name for g in groups if g.class_name == cls), cls)
            requirements.append(Requirement(target=target, op="<", value=int(entry["count"])))
        return Scene(objects=groups, statements=statements, requirements=requirements, prompt=metadata.get("prompt"))
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UsageError("E006", argument="GenEval metadata", value=json.dumps(metadata)[:120],
                         expected=f"GenEval's include/exclude entries ({type(exc).__name__}: {exc})") from exc


def results_row(report: Report | None, filename: str, metadata: dict[str, Any], *, error: str | None = None) -> dict[str, Any]:
    """GenEval's results row for one image. Detections go in ``details`` as GenEval writes them:
    per class, ``[x0, y0, x1, y1, score]`` in pixels. An error row is ``correct: false`` with
    the error as its reason."""
    if report is None:
        return {"filename": filename, "tag": metadata.get("tag"), "prompt": metadata.get("prompt"), "correct": False,
                "reason": error or "not verified", "metadata": json.dumps(metadata), "details": json.dumps({})}
    w, h = report.image_size
    details: dict[str, list[list[float]]] = {}
    for det in report.detections:
        x0, y0, x1, y1 = det.box
        details.setdefault(det.class_name, []).append([round(x0 * w, 2), round(y0 * h, 2), round(x1 * w, 2),
                                                       round(y1 * h, 2), round(float(det.score), 5)])
    return {"filename": filename, "tag": metadata.get("tag"), "prompt": metadata.get("prompt"),
            "correct": report.passed, "reason": "\n".join(c.reason for c in report.failed),
            "metadata": json.dumps(metadata), "details": json.dumps(details)}


def read_metadata_lines(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a GenEval metadata JSONL; raises ``UsageError`` E601 on a bad line."""
    from compose.io import read_text

    rows = []
    for k, line in enumerate(read_text(path, "GenEval metadata").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError("E601", line=k, path=str(path), reason=f"not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise UsageError("E601", line=k, path=str(path), reason="expected a JSON object")
        rows.append(row)
    return rows


def image_folder_items(root: str | Path, metadata_path: str | Path | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """``(id, image path, metadata)`` for every ``<root>/<index>/samples/<name>.png``.

    Metadata comes from ``<root>/<index>/metadata.jsonl`` (GenEval's generation output) or,
    when ``metadata_path`` is given, from its line ``index`` (0-based). Ids are
    ``"<index>/<name>"``. An index folder without samples yields nothing; a missing sample file
    is found at verification time (an error row).
    """
    base = Path(root)
    if not base.is_dir():
        raise UsageError("E604", path=str(base), reason="no such folder")
    lines = read_metadata_lines(metadata_path) if metadata_path is not None else None
    folders = sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    if not folders:
        raise UsageError("E604", path=str(base), reason="expected numbered folders <index>/samples/*.png")
    items = []
    for folder in folders:
        index = int(folder.name)
        if lines is not None:
            if index >= len(lines):
                raise UsageError("E604", path=str(folder),
                                 reason=f"folder {index} has no line in {metadata_path} ({len(lines)} lines)")
            metadata = lines[index]
        else:
            meta_file = folder / "metadata.jsonl"
            if not meta_file.exists():
                raise UsageError("E604", path=str(folder), reason="no metadata.jsonl and no --metadata file given")
            found = read_metadata_lines(meta_file)
            if not found:
                raise UsageError("E604", path=str(meta_file), reason="metadata.jsonl is empty")
            metadata = found[0]
        samples = folder / "samples"
        if not samples.is_dir():
            continue
        for image in sorted(samples.iterdir()):
            if re.fullmatch(r"\d+\.png", image.name):
                items.append((f"{folder.name}/{image.name}", str(image), metadata))
    return items


def tag_accuracy(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """GenEval's summary: accuracy per tag (in first-seen order), the overall score as the
    unweighted mean of the tags, and the image and prompt totals. Error rows count as wrong.

    >>> s = tag_accuracy([{"tag": "a", "correct": True, "metadata": "1"}, {"tag": "a", "correct": False,
    ...                    "metadata": "1"}, {"tag": "b", "correct": True, "metadata": "2"}])
    >>> s["tags"]["a"], s["overall"]
    ({'correct': 1, 'total': 2, 'accuracy': 0.5}, 0.75)
    """
    tags: dict[str, dict[str, Any]] = {}
    prompts: dict[str, bool] = {}
    images = correct = 0
    for row in rows:
        tag = row.get("tag") or "untagged"
        entry = tags.setdefault(tag, {"correct": 0, "total": 0})
        ok = bool(row.get("correct"))
        entry["correct"] += ok
        entry["total"] += 1
        images += 1
        correct += ok
        key = str(row.get("metadata") or row.get("prompt") or row.get("id"))
        prompts[key] = prompts.get(key, False) or ok
    for entry in tags.values():
        entry["accuracy"] = entry["correct"] / entry["total"] if entry["total"] else 0.0
    overall = sum(e["accuracy"] for e in tags.values()) / len(tags) if tags else 0.0
    return {"images": images, "correct_images": correct / images if images else 0.0,
            "prompts": len(prompts), "correct_prompts": sum(prompts.values()) / len(prompts) if prompts else 0.0,
            "tags": tags, "overall": overall}


def summary_table(summary: dict[str, Any]) -> str:
    """GenEval's ``summary_scores.py`` printout, from :func:`tag_accuracy`'s result."""
    lines = ["Summary", "=======", f"Total images: {summary['images']}", f"Total prompts: {summary['prompts']}",
             f"% correct images: {summary['correct_images']:.2%}", f"% correct prompts: {summary['correct_prompts']:.2%}",
             "", "Task breakdown", "=============="]
    for tag, e in summary["tags"].items():
        lines.append(f"{tag:<16} = {e['accuracy']:.2%} ({e['correct']} / {e['total']})")
    lines += ["", f"Overall score (avg. over tasks): {summary['overall']:.5f}"]
    return "\n".join(lines)


# --- GenEval's own protocol ------------------------------------------------------------------
#
# Written from GenEval's evaluation script, ``evaluation/evaluate_images.py`` (MIT licence,
# github.com/djghosh13/geneval): its thresholds, its per-class selection of detections, its rule
# for relative position and its color classification. Nothing here decides like compose's own
# checks; it reproduces GenEval's verdict from the same detections.

#: GenEval's defaults (``evaluate_images.py``: ``THRESHOLD``, ``COUNTING_THRESHOLD``,
#: ``MAX_OBJECTS``, ``NMS_THRESHOLD``, ``POSITION_THRESHOLD``).
GENEVAL_THRESHOLD = 0.3
GENEVAL_COUNTING_THRESHOLD = 0.9
GENEVAL_MAX_OBJECTS = 16
GENEVAL_NMS_THRESHOLD = 1.0

#: The six tags of GenEval's prompts.
GENEVAL_TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


@dataclass(frozen=True)
class GenevalOptions:
    """GenEval's options (its ``--options`` keys ``threshold``, ``counting_threshold``,
    ``max_objects``, ``max_overlap``, ``position_threshold``), with its defaults."""

    threshold: float = GENEVAL_THRESHOLD
    counting_threshold: float = GENEVAL_COUNTING_THRESHOLD
    max_objects: int = GENEVAL_MAX_OBJECTS
    nms_threshold: float = GENEVAL_NMS_THRESHOLD
    position_threshold: float = GENEVAL_POSITION_THRESHOLD


@dataclass
class GenevalObject:
    """One detection as GenEval holds it: a box ``(x0, y0, x1, y1)`` in pixels, its score and
    optionally a boolean ``(h, w)`` mask at the image's resolution."""

    box: tuple[float, float, float, float]
    score: float
    mask: Any = None


def pixel_iou(a: Any, b: Any) -> float:
    """GenEval's ``compute_iou``: pixel boxes whose sides count both end pixels (``+ 1``).

    >>> pixel_iou((0, 0, 9, 9), (0, 0, 9, 4))
    0.5
    """
    def area(box):
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union else 0.0


def select_objects(candidates: dict[str, list[GenevalObject]], tag: str | None,
                   options: GenevalOptions = GenevalOptions()) -> dict[str, list[GenevalObject]]:
    """GenEval's choice of detections per class: scores above the threshold (strictly; the
    counting threshold for ``counting`` prompts), best first, at most ``max_objects``, then
    suppression of boxes overlapping a kept one by ``nms_threshold`` or more (never at 1.0).
    Classes left with nothing are dropped.

    >>> found = {"cat": [GenevalObject((0, 0, 5, 5), 0.5), GenevalObject((6, 6, 9, 9), 0.95)],
    ...          "dog": [GenevalObject((0, 0, 5, 5), 0.3)]}
    >>> {k: [o.score for o in v] for k, v in select_objects(found, "colors").items()}
    {'cat': [0.95, 0.5]}
    >>> {k: [o.score for o in v] for k, v in select_objects(found, "counting").items()}
    {'cat': [0.95]}
    """
    threshold = options.threshold if tag != "counting" else options.counting_threshold
    chosen: dict[str, list[GenevalObject]] = {}
    for name, objects in candidates.items():
        # GenEval takes numpy's argsort(...)[::-1], whose order among equal scores numpy does not
        # fix; here equal scores go later-first, what a stable sort reversed gives
        order = sorted(range(len(objects)), key=lambda i: (objects[i].score, i), reverse=True)
        order = [i for i in order if objects[i].score > threshold][: options.max_objects]
        kept = []
        while order:
            best = order.pop(0)
            kept.append(objects[best])
            order = [i for i in order if options.nms_threshold == 1
                     or pixel_iou(objects[best].box, objects[i].box) < options.nms_threshold]
        if kept:
            chosen[name] = kept
    return chosen


def relative_position(a: Any, b: Any, position_threshold: float = GENEVAL_POSITION_THRESHOLD) -> set[str]:
    """GenEval's ``relative_position``: where box ``a`` lies relative to box ``b``.

    The offset between the centres shrinks on each axis by ``position_threshold`` times the sum
    of the two boxes' sides on that axis (the margin; not below zero); divided by the length of
    the full offset, a component below -0.5 or above 0.5 names ``left of`` / ``right of`` /
    ``above`` / ``below``. Boxes whose shrunk offset is under 1e-3 on both axes have no relation.
    It calls :func:`compose.relations.geneval_relations` on pixel boxes (the 1e-3 is in pixels, as
    in GenEval), with the margin as an option.

    >>> sorted(relative_position((0, 0, 10, 10), (20, 0, 30, 10)))
    ['left of']
    >>> relative_position((0, 0, 10, 10), (1, 1, 11, 11))
    set()
    """
    return geneval_relations(tuple(map(float, list(a)[:4])), tuple(map(float, list(b)[:4])),
                             position_threshold)


ColorsOf = Callable[[str, list[GenevalObject]], list[str]]


def evaluate_metadata(objects: dict[str, list[GenevalObject]], metadata: dict[str, Any], colors_of: ColorsOf | None,
                      options: GenevalOptions = GenevalOptions()) -> tuple[bool, str]:
    """GenEval's ``evaluate``: the verdict and reason for one image's selected objects.

    ``include`` clauses combine with AND and ``exclude`` clauses with OR. For each include, the
    ``count`` best objects of its class are taken: fewer fails; with a ``color``, at least
    ``count`` of them must be classified that color (``colors_of(class, objects)``); with a
    ``position: [relation, k]``, every one of them must stand in ``relation`` to every object
    include ``k`` took, and include ``k`` must have passed. An exclude fails when ``count`` or more
    of its class were selected.

    >>> cat = GenevalObject((0, 0, 10, 10), 0.9)
    >>> evaluate_metadata({"cat": [cat]}, {"include": [{"class": "cat", "count": 2}]}, None)
    (False, 'expected cat>=2, found 1')
    """
    correct = True
    reasons: list[str] = []
    matched_groups: list[list[GenevalObject] | None] = []
    for req in metadata.get("include", []):
        name = req["class"]
        count = int(req["count"])
        matched = True
        found = objects.get(name, [])[:count]
        if len(found) < count:
            correct = matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req:
                if colors_of is None:
                    raise UsageError("E006", argument="colors_of", value=None,
                                     expected="a color classifier for prompts with colors")
                colors = list(colors_of(name, found))
                if colors.count(req["color"]) < count:
                    correct = matched = False
                    reasons.append(f"expected {req['color']} {name}>={count}, found {colors.count(req['color'])} "
                                   f"{req['color']}; and " + ", ".join(f"{colors.count(c)} {c}" for c in GENEVAL_COLORS
                                                                        if c in colors))
            if "position" in req and matched:
                expected_rel, target = req["position"]
                if matched_groups[int(target)] is None:
                    correct = matched = False
                    reasons.append(f"no target for {name} to be {expected_rel}")
                else:
                    for obj in found:
                        for other in matched_groups[int(target)] or []:
                            true_rels = relative_position(obj.box, other.box, options.position_threshold)
                            if expected_rel not in true_rels:
                                correct = matched = False
                                reasons.append(f"expected {name} {expected_rel} target, found "
                                               f"{' and '.join(sorted(true_rels))} target")
                                break
                        if not matched:
                            break
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name = req["class"]
        if len(objects.get(name, [])) >= int(req["count"]):
            correct = False
            reasons.append(f"expected {name}<{req['count']}, found {len(objects[name])}")
    return correct, "\n".join(reasons)


def geneval_results_row(filename: str, metadata: dict[str, Any], correct: bool, reason: str,
                        objects: dict[str, list[GenevalObject]]) -> dict[str, Any]:
    """GenEval's results row: ``details`` holds each class's selected boxes as
    ``[x0, y0, x1, y1, score]`` in pixels."""
    details = {name: [[float(v) for v in o.box] + [float(o.score)] for o in found] for name, found in objects.items()}
    return {"filename": filename, "tag": metadata.get("tag"), "prompt": metadata.get("prompt"), "correct": bool(correct),
            "reason": reason, "metadata": json.dumps(metadata), "details": json.dumps(details)}


def group_detections(detections: Sequence[Any], size: tuple[int, int]) -> dict[str, list[GenevalObject]]:
    """Detections (normalised boxes, :class:`~compose.verification.detection.Detection`) as GenEval's
    per-class pixel objects, in the order given."""
    w, h = size
    out: dict[str, list[GenevalObject]] = {}
    for det in detections:
        x0, y0, x1, y1 = det.box
        out.setdefault(det.class_name, []).append(GenevalObject((x0 * w, y0 * h, x1 * w, y1 * h), float(det.score),
                                                                det.mask))
    return out


class GenevalProtocol:
    """GenEval's evaluation of one image: detect (a :class:`Detector`, GenEval's is
    ``mask2former``) or take given detections, select per class, classify colors with CLIP on
    masked crops, and judge by the metadata.

    Parameters
    ----------
    detector : Detector, optional
        Used when :meth:`evaluate` is given no detections; its scores must not be cut below
        GenEval's thresholds (the ``mask2former`` detector with ``threshold=0``).
    color_classifier : optional
        An object with ``classify_many(image, boxes_px, masks, class_name) -> [color]``, such as
        :class:`~compose.verification.color.ClipColorClassifier` (GenEval's, on CLIP ViT-L/14).
    options : GenevalOptions
    """

    def __init__(self, detector: Any = None, color_classifier: Any = None,
                 options: GenevalOptions = GenevalOptions()) -> None:
        self.detector = detector
        self.color_classifier = color_classifier
        self.options = options

    def evaluate(self, image: Any, metadata: dict[str, Any], *, filename: str | None = None,
                 detections: Sequence[Any] | None = None) -> dict[str, Any]:
        """GenEval's results row for ``image`` (a PIL image or a path)."""
        from compose.verification.detection import load_image

        picture = load_image(image)
        if detections is None:
            if self.detector is None:
                raise UsageError("E006", argument="detector", value=None,
                                 expected="a detector or the image's detections")
            classes = sorted({str(r["class"]) for r in [*metadata.get("include", []), *metadata.get("exclude", [])]})
            detections = self.detector.detect(picture, classes)
        objects = select_objects(group_detections(detections, picture.size), metadata.get("tag"), self.options)

        def colors_of(name: str, found: list[GenevalObject]) -> list[str]:
            if self.color_classifier is None:
                raise UsageError("E006", argument="color classifier", value=None,
                                 expected="CLIP (GenEval classifies colors with CLIP ViT-L/14)")
            # PIL rounds a crop box to whole pixels, as GenEval's Image.crop(box) does
            boxes = [tuple(round(v) for v in o.box) for o in found]
            return self.color_classifier.classify_many(picture, boxes, [o.mask for o in found], name)

        correct, reason = evaluate_metadata(objects, metadata, colors_of, self.options)
        name = filename if filename is not None else (str(image) if isinstance(image, (str, Path)) else "")
        return geneval_results_row(name, metadata, correct, reason, objects)
