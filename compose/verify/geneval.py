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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.errors import UsageError
from compose.relations import GENEVAL_POSITIONS

if TYPE_CHECKING:  # pragma: no cover
    from compose.scene import Scene
    from compose.verify.report import Report

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
