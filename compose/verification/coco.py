"""Detections from elsewhere: COCO's results format, with COCO's run-length masks.

A detections file is what a detector already run wrote, in COCO's results format: a JSON list of
``{"image_id", "category_id", "bbox": [x, y, width, height], "score", "segmentation"?}`` with
pixel boxes, or an object holding that list as ``"annotations"`` (or ``"results"``) beside
COCO's ``"images"`` (``{"id", "file_name"}``) and ``"categories"`` (``{"id", "name"}``). An
image is named by ``image_id`` (a file name, or an id of ``images``) or by ``file_name``; a
category by ``category_id`` (a COCO category id, 1..90 with gaps, or an id of ``categories``)
or by ``category`` / ``category_name``. ``segmentation`` is COCO's RLE, ``{"size": [h, w],
"counts": ...}``, compressed (a string) or not (a list), read here without pycocotools.

Examples
--------
>>> import numpy as np
>>> m = np.zeros((4, 5), bool); m[1:3, 2:4] = True
>>> rle = encode_rle(m)
>>> rle
{'size': [4, 5], 'counts': '92203'}
>>> bool((decode_rle(rle) == m).all())
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compose.errors import UsageError

#: COCO's category ids of its 80 thing classes, in GenEval's (and the detectors') class order.
COCO_CATEGORY_IDS: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)


def coco_categories() -> dict[int, str]:
    """COCO category id -> GenEval's class name."""
    from compose.prompts.lexicon import GENEVAL_CLASSES

    return dict(zip(COCO_CATEGORY_IDS, GENEVAL_CLASSES))


def _rle_string(counts: Sequence[int]) -> str:
    # COCO's rleToString (maskApi.c): each count after the second as a difference from the
    # count two before, in 5-bit groups with a continuation bit, offset by 48
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _rle_counts(text: str) -> list[int]:
    # COCO's rleFrString, the inverse of _rle_string
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's compressed RLE of a boolean ``(h, w)`` mask (column-major runs, zeros first)."""
    flat = np.asarray(mask, bool).flatten(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": _rle_string(counts)}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """The boolean ``(h, w)`` mask of a COCO RLE (``counts`` a string or a list)."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs = _rle_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if sum(runs) != h * w or any(r < 0 for r in runs):
        raise ValueError(f"RLE counts sum to {sum(runs)}, expected {h * w}")
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape((h, w), order="F")


class DetectionsFile:
    """A COCO results file, indexed by image. :meth:`for_image` gives an image's detections."""

    def __init__(self, path: str | os.PathLike) -> None:
        from compose.verification.detection import Detection  # noqa: F401 - fail early if verification is broken

        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError("E506", path=str(path), reason="no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError("E506", path=str(path), reason=f"not JSON ({exc})") from None
        images: dict[Any, str] = {}
        categories = coco_categories()
        if isinstance(data, dict):
            images = {img.get("id"): str(img.get("file_name")) for img in data.get("images", []) if isinstance(img, dict)}
            if data.get("categories"):
                categories = {c["id"]: str(c["name"]) for c in data["categories"] if isinstance(c, dict)}
            entries = data.get("annotations", data.get("results"))
        else:
            entries = data
        if not isinstance(entries, list):
            raise UsageError("E506", path=str(path), reason="expected a list of COCO results (or 'annotations')")
        self.by_image: dict[str, list[dict[str, Any]]] = {}
        for k, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise UsageError("E506", path=str(path), reason=f"entry {k} is not an object")
            image = entry.get("file_name", entry.get("image"))
            if image is None:
                image = images.get(entry.get("image_id"), entry.get("image_id"))
            name = entry.get("category", entry.get("category_name"))
            if name is None:
                if entry.get("category_id") not in categories:
                    raise UsageError("E506", path=str(path), reason=f"entry {k}: unknown category_id {entry.get('category_id')!r}")
                name = categories[entry["category_id"]]
            bbox = entry.get("bbox")
            if image is None or not (isinstance(bbox, list) and len(bbox) == 4):
                raise UsageError("E506", path=str(path), reason=f"entry {k}: needs an image and a bbox [x, y, w, h]")
            self.by_image.setdefault(str(image), []).append({**entry, "_class": str(name)})

    def keys_for(self, image: str, item_id: str | None = None) -> list[str]:
        """The keys an image may be filed under: the path as given, its name, its name without
        the suffix, its path below the current folder, and the batch item's id."""
        p = Path(image)
        keys = [str(image), p.name, p.stem, item_id]
        try:
            keys.append(str(p.resolve().relative_to(Path.cwd().resolve())))
        except ValueError:
            pass
        return [k for k in keys if k]

    def for_image(self, image: str, size: tuple[int, int], item_id: str | None = None) -> list:
        """The detections of ``image`` (``(w, h)`` pixels), best first; none when the file has
        no entry for it (the detector found nothing)."""
        from compose.verification.detection import Detection

        entries = next((self.by_image[k] for k in self.keys_for(image, item_id) if k in self.by_image), [])
        w, h = size
        found = []
        for entry in entries:
            x, y, bw, bh = (float(v) for v in entry["bbox"])
            mask = None
            seg = entry.get("segmentation")
            if isinstance(seg, dict) and "counts" in seg:
                try:
                    mask = decode_rle(seg)
                except (ValueError, KeyError, TypeError) as exc:
                    raise UsageError("E506", path=str(self.path), reason=f"a mask of {image}: {exc}") from None
                if mask.shape != (h, w):
                    raise UsageError("E506", path=str(self.path),
                                     reason=f"a mask of {image} is {mask.shape[1]}x{mask.shape[0]}, the image {w}x{h}")
            found.append(Detection(box=(x / w, y / h, (x + bw) / w, (y + bh) / h), class_name=entry["_class"],
                                   score=float(entry.get("score", 1.0)), mask=mask))
        found.sort(key=lambda d: -d.score)
        return found
