"""The mask2former detector and GenEval's whole protocol on tiny random Mask2Former and CLIP
models built here from configs (the real transformers classes, loaded offline); COCO results
files with RLE masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from compose.errors import BackboneError, UsageError
from compose.verification.coco import DetectionsFile, decode_rle, encode_rle
from compose.verification.detection import get_detector
from compose.verification.geneval import GENEVAL_TAGS, GenevalProtocol

pytest.importorskip("transformers")


def build_mask2former(folder):
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
    )

    torch.manual_seed(0)
    config = Mask2FormerConfig(
        backbone_config={"model_type": "swin", "image_size": 64, "embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1],
                             "window_size": 4, "out_features": ["stage1", "stage2", "stage3", "stage4"]},
        feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=32, dim_feedforward=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, num_queries=12, num_labels=80,
        id2label={i: f"c{i}" for i in range(80)}, label2id={f"c{i}": i for i in range(80)})
    model = Mask2FormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # spread the class logits so the random model's scores are not all ~1/81
        model.class_predictor.weight.mul_(30.0)
    model.save_pretrained(folder)
    Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def m2f_folder(tmp_path_factory):
    return build_mask2former(tmp_path_factory.mktemp("mask2former"))


def _image(w=80, h=48, seed=0):
    return Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8))


def test_mask2former_instances_as_mmdet_makes_them(m2f_folder):
    detector = get_detector("mask2former", model=str(m2f_folder), threshold=0.0)
    image = _image()
    found = detector.detect(image)
    assert len(found) <= 100
    assert found and [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    from compose.prompts.lexicon import GENEVAL_CLASSES

    for det in found:
        assert det.class_name in GENEVAL_CLASSES and 0 <= det.score <= 1
        assert det.mask.shape == (48, 80) and det.mask.any()
        ys, xs = np.nonzero(det.mask)  # the box is the mask's (mmdet's mask2bbox)
        assert det.box == pytest.approx((xs.min() / 80, ys.min() / 48, (xs.max() + 1) / 80, (ys.max() + 1) / 48))
    again = detector.detect(image)
    assert [(d.class_name, d.score) for d in again] == [(d.class_name, d.score) for d in found]
    some = detector.detect(image, [found[0].class_name])
    assert {d.class_name for d in some} == {found[0].class_name}


def test_whole_geneval_protocol_on_tiny_models(m2f_folder, clip_folder):
    from compose.verification.color import ClipColorClassifier

    protocol = GenevalProtocol(get_detector("mask2former", model=str(m2f_folder), threshold=0.0),
                               ClipColorClassifier(str(clip_folder)))
    image = _image()
    found = protocol.detector.detect(image)
    a, b = found[0].class_name, next(d.class_name for d in found if d.class_name != found[0].class_name)
    metas = {
        "single_object": {"include": [{"class": a, "count": 1}]},
        "two_object": {"include": [{"class": a, "count": 1}, {"class": b, "count": 1}]},
        "counting": {"include": [{"class": a, "count": 2}], "exclude": [{"class": a, "count": 3}]},
        "colors": {"include": [{"class": a, "count": 1, "color": "red"}]},
        "position": {"include": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": ["left of", 0]}]},
        "color_attr": {"include": [{"class": a, "count": 1, "color": "red"}, {"class": b, "count": 1, "color": "blue"}]},
    }
    for tag in GENEVAL_TAGS:
        meta = {"tag": tag, "prompt": f"a {tag} prompt", **metas[tag]}
        row = protocol.evaluate(image, meta, filename="x.png")
        assert set(row) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
        details = json.loads(row["details"])
        assert all(len(box) == 5 for boxes in details.values() for box in boxes)
        threshold = 0.9 if tag == "counting" else 0.3
        assert all(box[4] > threshold for boxes in details.values() for box in boxes)
        assert row["correct"] == (row["reason"] == "")
    single = protocol.evaluate(image, {"tag": "single_object", **metas["single_object"]})
    assert single["correct"] == (found[0].score > 0.3)


def test_mask2former_missing_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackboneError) as err:
        get_detector("mask2former")
    assert err.value.code == "E504" and "mask2former" in str(err.value)


def test_coco_rle_round_trip_and_pycocotools():
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < rng.random()
        assert (decode_rle(encode_rle(mask)) == mask).all()
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[2], mask.flatten(order="F"), [2]]))))
        uncompressed = ([0] if mask.flatten(order="F")[0] else []) + runs.tolist() if mask.size else []
        assert (decode_rle({"size": [h, w], "counts": uncompressed}) == mask).all()
    coco = pytest.importorskip("pycocotools.mask")
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        mask = rng.random((h, w)) < 0.4
        assert coco.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode() == encode_rle(mask)["counts"]


def test_detections_file_forms(tmp_path):
    mask = np.zeros((48, 80), bool)
    mask[10:20, 5:30] = True
    entries = [{"image_id": "a.png", "category_id": 17, "bbox": [5, 10, 25, 10], "score": 0.8, "segmentation": encode_rle(mask)},
               {"file_name": "a.png", "category": "dog", "bbox": [40, 0, 10, 10], "score": 0.95}]
    (tmp_path / "list.json").write_text(json.dumps(entries))
    found = DetectionsFile(tmp_path / "list.json").for_image(str(tmp_path / "a.png"), (80, 48))
    assert [(d.class_name, d.score) for d in found] == [("dog", 0.95), ("cat", 0.8)]
    assert found[1].box == pytest.approx((5 / 80, 10 / 48, 30 / 80, 20 / 48)) and (found[1].mask == mask).all()
    coco = {"images": [{"id": 7, "file_name": "b.png"}], "categories": [{"id": 1, "name": "circle"}],
            "annotations": [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 8, 8], "score": 0.5}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    assert [d.class_name for d in DetectionsFile(tmp_path / "coco.json").for_image("x/b.png", (16, 16))] == ["circle"]
    assert DetectionsFile(tmp_path / "coco.json").for_image("c.png", (16, 16)) == []
    for bad in ("[1]", "{}", json.dumps([{"image_id": "a", "category_id": 999, "bbox": [0, 0, 1, 1]}]), "nope"):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(UsageError, match="E506"):
            DetectionsFile(tmp_path / "bad.json")
    small = [{**entries[0], "segmentation": encode_rle(mask[:10])}]
    (tmp_path / "small.json").write_text(json.dumps(small))
    with pytest.raises(UsageError, match="E506"):
        DetectionsFile(tmp_path / "small.json").for_image("a.png", (80, 48))
