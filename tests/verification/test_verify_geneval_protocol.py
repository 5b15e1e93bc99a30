"""GenEval's protocol (compose.verification.geneval) on synthetic detections and masks, no weights:
per-image verdicts on all six tags against cases whose answer is worked out from GenEval's
rules by construction (not by running the rule), 6,000 seeded random cases."""

from __future__ import annotations

import numpy as np
import pytest

from compose.verification.detection import Detection
from compose.verification.geneval import (
    GENEVAL_TAGS,
    GenevalObject,
    GenevalProtocol,
    evaluate_metadata,
    relative_position,
    select_objects,
)
from compose.vocabulary import GENEVAL_COLORS

CLASSES = ("cat", "dog", "cup", "bench", "kite")
W, H = 200, 160


class TableColors:
    """A color classifier that reads each object's color from a table keyed by its box (the
    case builder decides the colors; CLIP is tested elsewhere)."""

    def __init__(self):
        self.colors = {}

    def classify_many(self, image, boxes, masks, class_name):
        assert all(m is None or m.shape == (H, W) for m in masks)
        return [self.colors[tuple(b)] for b in boxes]


def _box(rng, cx=None, cy=None, w=None, h=None):
    w = w if w is not None else rng.uniform(10, 50)
    h = h if h is not None else rng.uniform(10, 50)
    cx = cx if cx is not None else rng.uniform(w / 2, W - w / 2)
    cy = cy if cy is not None else rng.uniform(h / 2, H - h / 2)
    # whole pixels, so the classifier table's keys are the rounded crop boxes
    return (round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2))


class Case:
    def __init__(self, rng):
        self.rng = rng
        self.detections: list[Detection] = []
        self.colors = TableColors()

    def add(self, cls, score, box=None, color=None, mask=False):
        box = box or _box(self.rng)
        m = None
        if mask:
            m = np.zeros((H, W), bool)
            m[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = True
        self.detections.append(Detection((box[0] / W, box[1] / H, box[2] / W, box[3] / H), cls, score, mask=m))
        self.colors.colors[box] = color or str(self.rng.choice(GENEVAL_COLORS))
        return box

    def distractors(self, avoid):
        for _ in range(int(self.rng.integers(0, 4))):
            cls = str(self.rng.choice([c for c in CLASSES if c not in avoid]))
            self.add(cls, float(self.rng.uniform(0, 1)))


def _weak(rng, n, cap=0.3):
    return [float(rng.uniform(0.0, cap)) for _ in range(n)]


def _case(tag, rng):
    """(case, metadata, expected verdict): the verdict follows from how the case is built."""
    case = Case(rng)
    a, b = (str(c) for c in rng.choice(CLASSES, 2, replace=False))
    if tag == "single_object":
        present = bool(rng.random() < 0.5)
        for s in _weak(rng, int(rng.integers(0, 3))):  # at or below 0.3 never counts
            case.add(a, s)
        if present:
            case.add(a, float(rng.uniform(0.301, 1.0)))
        case.distractors({a})
        return case, {"tag": tag, "include": [{"class": a, "count": 1}], "prompt": f"a photo of a {a}"}, present
    if tag == "two_object":
        has_a, has_b = bool(rng.random() < 0.6), bool(rng.random() < 0.6)
        for cls, has in ((a, has_a), (b, has_b)):
            for s in _weak(rng, int(rng.integers(0, 2))):
                case.add(cls, s)
            if has:
                case.add(cls, float(rng.uniform(0.31, 1.0)))
        case.distractors({a, b})
        meta = {"tag": tag, "include": [{"class": a, "count": 1}, {"class": b, "count": 1}]}
        return case, meta, has_a and has_b
    if tag == "counting":
        n = int(rng.integers(2, 5))
        strong = int(rng.integers(max(0, n - 2), n + 3))
        for _ in range(strong):  # only scores above 0.9 count for counting prompts
            case.add(a, float(rng.uniform(0.901, 1.0)))
        for _ in range(int(rng.integers(0, 4))):
            case.add(a, float(rng.uniform(0.3, 0.9)))
        case.distractors({a})
        meta = {"tag": tag, "include": [{"class": a, "count": n}], "exclude": [{"class": a, "count": n + 1}]}
        return case, meta, strong == n
    if tag == "colors":
        color = str(rng.choice(GENEVAL_COLORS))
        present = bool(rng.random() < 0.8)
        right = bool(rng.random() < 0.5)
        top = float(rng.uniform(0.5, 1.0))
        if present:
            others = [c for c in GENEVAL_COLORS if c != color]
            case.add(a, top, color=color if right else str(rng.choice(others)), mask=bool(rng.random() < 0.5))
            for _ in range(int(rng.integers(0, 3))):  # only the best one is classified
                case.add(a, float(rng.uniform(0.31, top - 0.01)), color=color if not right else str(rng.choice(others)))
        case.distractors({a})
        meta = {"tag": tag, "include": [{"class": a, "count": 1, "color": color}]}
        return case, meta, present and right
    if tag == "color_attr":
        ca, cb = (str(c) for c in rng.choice(GENEVAL_COLORS, 2, replace=False))
        ok = []
        for cls, color in ((a, ca), (b, cb)):
            right = bool(rng.random() < 0.7)
            others = [c for c in GENEVAL_COLORS if c != color]
            case.add(cls, float(rng.uniform(0.31, 1.0)), color=color if right else str(rng.choice(others)), mask=True)
            ok.append(right)
        case.distractors({a, b})
        meta = {"tag": tag, "include": [{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": cb}]}
        return case, meta, all(ok)
    assert tag == "position"
    relation = str(rng.choice(["left of", "right of", "above", "below"]))
    horizontal = relation in ("left of", "right of")
    sign = -1 if relation in ("left of", "above") else 1
    wa, ha, wb, hb = (float(rng.uniform(8, 30)) for _ in range(4))
    span = (wa + wb) if horizontal else (ha + hb)
    kind = str(rng.choice(["clear", "margin", "margin_aligned", "wrong_side", "other_axis", "missing"]))
    if kind == "clear":  # far enough along the axis, little across it: holds
        main = sign * float(rng.uniform(0.4 * span + 2, 0.4 * span + 40))
        cross = float(rng.uniform(-1, 1)) * abs(main) / 4
    elif kind == "margin":  # the centres closer than the margin along the axis: never holds
        main = sign * float(rng.uniform(0, 0.1 * span - 2)) if 0.1 * span > 2 else 0.0
        cross = float(rng.uniform(-60, 60))
    elif kind == "margin_aligned":  # straight along the axis but inside the margin: no relation
        main = sign * float(rng.uniform(0.5, 0.1 * span - 0.2))
        cross = float(rng.uniform(-1, 1)) * abs(main) / 4
    elif kind == "wrong_side":
        main = -sign * float(rng.uniform(0.4 * span + 2, 0.4 * span + 40))
        cross = float(rng.uniform(-1, 1)) * abs(main) / 4
    else:  # the offset mostly across the axis: at most a third of it along, never holds
        main = sign * float(rng.uniform(0, 15))
        cross = float(rng.choice([-1, 1])) * (3 * abs(main) + float(rng.uniform(1, 40)))
    dx, dy = (main, cross) if horizontal else (cross, main)
    bx, by = W / 2, H / 2
    box_b = (bx - wb / 2, by - hb / 2, bx + wb / 2, by + hb / 2)
    box_a = (bx + dx - wa / 2, by + dy - ha / 2, bx + dx + wa / 2, by + dy + ha / 2)
    case.add(b, float(rng.uniform(0.31, 1.0)), box=box_b)
    if kind != "missing":
        case.add(a, float(rng.uniform(0.31, 1.0)), box=box_a)
    case.distractors({a, b})
    meta = {"tag": tag, "include": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [relation, 0]}]}
    return case, meta, kind == "clear"


def test_protocol_verdicts_on_random_cases():
    from PIL import Image

    image = Image.new("RGB", (W, H))
    rng = np.random.default_rng(17)
    wrong = []
    seen = {tag: [0, 0] for tag in GENEVAL_TAGS}
    for k in range(6000):
        tag = GENEVAL_TAGS[k % 6]
        case, meta, expected = _case(tag, rng)
        order = rng.permutation(len(case.detections))  # the protocol must not rely on the order given
        detections = [case.detections[i] for i in order]
        row = GenevalProtocol(color_classifier=case.colors).evaluate(image, meta, filename=f"{k}.png", detections=detections)
        seen[tag][expected] += 1
        if row["correct"] != expected:
            wrong.append((k, tag, meta, expected, row["reason"]))
    assert not wrong, wrong[:5]
    assert all(min(v) >= 150 for v in seen.values()), seen  # both verdicts well represented per tag


def test_relative_position_margin_and_symmetry():
    assert relative_position((0, 0, 10, 10), (20, 0, 30, 10)) == {"left of"}
    assert relative_position((20, 0, 30, 10), (0, 0, 10, 10)) == {"right of"}
    assert relative_position((0, 0, 10, 10), (0, 30, 10, 40)) == {"above"}
    # centres 2 apart, margin 0.1 * (10 + 10) = 2: nothing left once the margin is taken
    assert relative_position((0, 0, 10, 10), (2, 0, 12, 10)) == set()
    # diagonal: both axes pass 0.5 once normalised
    assert relative_position((0, 0, 10, 10), (50, 50, 60, 60)) == {"left of", "above"}


def test_selection_threshold_cap_and_order():
    objs = {"cat": [GenevalObject((i, 0, i + 5, 5), 0.31 + i / 100) for i in range(30)]}
    kept = select_objects(objs, "colors")["cat"]
    assert len(kept) == 16 and [o.score for o in kept] == sorted((o.score for o in kept), reverse=True)
    assert select_objects({"cat": [GenevalObject((0, 0, 1, 1), 0.3)]}, "single_object") == {}
    from compose.verification.geneval import GenevalOptions

    overlapping = {"cat": [GenevalObject((0, 0, 9, 9), 0.9), GenevalObject((0, 0, 9, 8), 0.8)]}
    assert len(select_objects(overlapping, "single_object")["cat"]) == 2  # NMS is off at 1.0
    assert len(select_objects(overlapping, "single_object", GenevalOptions(nms_threshold=0.5))["cat"]) == 1


def test_exclude_and_reasons():
    cats = {"cat": [GenevalObject((0, 0, 5, 5), 0.95)] * 3}
    meta = {"include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}]}
    assert evaluate_metadata(cats, meta, None) == (False, "expected cat<3, found 3")
    with pytest.raises(Exception, match="E006"):
        evaluate_metadata(cats, {"include": [{"class": "cat", "count": 1, "color": "red"}]}, None)


def _metadata_rows():
    import json
    from pathlib import Path

    path = Path(__file__).parent.parent / "data" / "geneval" / "evaluation_metadata.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_geneval_prompt_passes_with_what_it_asks_for_and_fails_without():
    """GenEval's 553 prompts: detections made to match each prompt pass; one object fewer fails."""
    from PIL import Image

    image = Image.new("RGB", (W, H))
    rows = _metadata_rows()
    assert len(rows) == 553 and {r["tag"] for r in rows} == set(GENEVAL_TAGS)
    offsets = {"left of": (-70, 0), "right of": (70, 0), "above": (0, -55), "below": (0, 55)}
    for k, meta in enumerate(rows):
        rng = np.random.default_rng(k)
        case = Case(rng)
        anchor = None
        for j, req in enumerate(meta["include"]):
            for n in range(req["count"]):
                if "position" in req:
                    dx, dy = offsets[req["position"][0]]
                    box = _box(rng, cx=anchor[0] + dx, cy=anchor[1] + dy, w=12, h=12)
                elif any("position" in r for r in meta["include"]):
                    anchor = (W / 2, H / 2)
                    box = _box(rng, cx=W / 2, cy=H / 2, w=12, h=12)
                else:
                    box = (n * 12 + j * 60, 0, n * 12 + j * 60 + 10, 10)
                case.add(req["class"], 0.95 - 0.001 * n, box=box, color=req.get("color"))
        protocol = GenevalProtocol(color_classifier=case.colors)
        row = protocol.evaluate(image, meta, detections=case.detections)
        assert row["correct"], (meta, row["reason"])
        fewer = [d for d in case.detections if d.class_name != meta["include"][-1]["class"]]
        fewer += [d for d in case.detections if d.class_name == meta["include"][-1]["class"]][1:]
        assert not protocol.evaluate(image, meta, detections=fewer)["correct"], meta
        if meta["tag"] == "counting":  # one more than asked for is excluded
            extra = [*case.detections, Detection((0.9, 0.9, 0.95, 0.95), meta["include"][0]["class"], 0.99)]
            assert not protocol.evaluate(image, meta, detections=extra)["correct"], meta


def test_class_list_is_genevals():
    from pathlib import Path

    from compose.prompts.lexicon import GENEVAL_CLASSES
    from compose.verification.coco import COCO_CATEGORY_IDS, coco_categories

    names = (Path(__file__).parent.parent / "data" / "geneval" / "object_names.txt").read_text().split()
    assert " ".join(GENEVAL_CLASSES).split() == names
    assert len(set(COCO_CATEGORY_IDS)) == 80 and coco_categories()[1] == "person" and coco_categories()[90] == "toothbrush"


def _geneval_relative_position(box_a, box_b, threshold):
    """GenEval's relative_position as its evaluation code writes it (numpy), for comparison."""
    boxes = np.array([box_a, box_b], dtype=np.float64)[:, :4].reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    words = {"left of": dx < -0.5, "right of": dx > 0.5, "above": dy < -0.5, "below": dy > 0.5}
    return {word for word, holds in words.items() if holds}


def test_relative_position_agrees_with_genevals_own_code():
    rng = np.random.default_rng(5)
    for k in range(20_000):
        a, b = (tuple(float(v) for v in _box(rng)) for _ in range(2))
        threshold = 0.1 if k % 2 else float(rng.uniform(0.0, 0.3))
        assert relative_position(a, b, threshold) == _geneval_relative_position(a, b, threshold)


@pytest.mark.parametrize("changed", [{"position_threshold": 0.0}, {"counting_threshold": 0.5}, {"threshold": 0.2},
                                     {"max_objects": 2}])
def test_the_cases_tell_other_settings_apart(changed):
    """The cases are sharp: with any of GenEval's settings changed, some verdicts differ."""
    from PIL import Image

    from compose.verification.geneval import GenevalOptions

    image = Image.new("RGB", (W, H))
    rng = np.random.default_rng(17)
    differ = 0
    for k in range(1200):
        case, meta, expected = _case(GENEVAL_TAGS[k % 6], rng)
        protocol = GenevalProtocol(color_classifier=case.colors, options=GenevalOptions(**changed))
        differ += protocol.evaluate(image, meta, detections=case.detections)["correct"] != expected
    assert differ >= 10
