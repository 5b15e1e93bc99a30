"""Open-vocabulary detectors (OWLv2, Grounding DINO) and the CLIP color classifier, on tiny
randomly initialised models built here from configs and saved to a local folder: the real
transformers classes, loaded offline, nothing downloaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from compose.errors import BackboneError, UsageError
from compose.scene import ObjectGroup, Scene
from compose.verification import verify
from compose.verification.detection import get_detector

transformers = pytest.importorskip("transformers")

from tests.verification.conftest import clip_tokenizer


@pytest.fixture(scope="module")
def owlv2_folder(tmp_path_factory):
    from transformers import (
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    folder = tmp_path_factory.mktemp("owlv2")
    tokenizer, vocab = clip_tokenizer(folder)
    torch.manual_seed(0)
    config = Owlv2Config(text_config={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                          "num_attention_heads": 4, "max_position_embeddings": 64, "bos_token_id": 0,
                                          "eos_token_id": 1, "pad_token_id": 2},
                         vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                            "num_attention_heads": 4, "image_size": 64, "patch_size": 16}, projection_dim=32)
    Owlv2ForObjectDetection(config).eval().save_pretrained(folder)
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dino_folder(tmp_path_factory):
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    folder = tmp_path_factory.mktemp("dino")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "circle", "square", "teddy", "bear", "dog"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    torch.manual_seed(0)
    config = GroundingDinoConfig(
        backbone_config={"model_type": "swin", "image_size": 64, "embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1],
                             "window_size": 4, "out_features": ["stage2", "stage3", "stage4"], "out_indices": [2, 3, 4]},
        text_config={"model_type": "bert", "vocab_size": len(words), "hidden_size": 16, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 64},
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10, num_feature_levels=3, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32)
    GroundingDinoForObjectDetection(config).eval().save_pretrained(folder)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
                           tokenizer=BertTokenizer(str(folder / "vocab.txt"))).save_pretrained(folder)
    return folder


def _image(w=80, h=48):
    return Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))


def test_owlv2_boxes_match_transformers_post_processing(owlv2_folder):
    detector = get_detector("owlv2", model=str(owlv2_folder), threshold=0.0, nms_iou=1.0)
    image = _image()
    inputs = detector.processor(text=[["a photo of a circle", "a photo of a square"]], images=image, return_tensors="pt")
    with torch.no_grad():
        outputs = detector.model(**inputs)
    probs, ours = detector.scores_and_boxes(outputs, image.size)
    side = max(image.size)
    theirs = detector.processor.post_process_grounded_object_detection(outputs, threshold=-1.0, target_sizes=[(side, side)])[0]
    expected = theirs["boxes"].numpy() / np.array([80, 48, 80, 48])
    assert np.allclose(ours, expected.clip(0, 1), atol=1e-5)
    assert np.allclose(probs.max(axis=1), theirs["scores"].numpy(), atol=1e-5)
    found = detector.detect(image, ["circle", "square"])
    assert found and all(0 <= v <= 1 for d in found for v in d.box) and {d.class_name for d in found} <= {"circle", "square"}
    assert [d.box for d in detector.detect(image, ["circle", "square"])] == [d.box for d in found]


def test_grounding_dino_spans_and_boxes_match_transformers(dino_folder):
    detector = get_detector("grounding-dino", model=str(dino_folder), threshold=0.0, nms_iou=1.0)
    image = _image()
    caption = detector.caption(["circle", "teddy bear"])
    inputs = detector.processor(images=image, text=caption, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    assert detector.class_spans(ids, 2) == [[1], [3, 4]]
    with torch.no_grad():
        outputs = detector.model(**inputs)
    per_class, ours = detector.scores_and_boxes(outputs, ids, 2)
    theirs = detector.processor.post_process_grounded_object_detection(
        outputs, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=[(48, 80)])[0]
    assert np.allclose(ours, (theirs["boxes"].numpy() / np.array([80, 48, 80, 48])).clip(0, 1), atol=1e-4)
    assert per_class.shape == (10, 2)
    found = detector.detect(image, ["circle", "teddy bear"])
    assert found and {d.class_name for d in found} <= {"circle", "teddy bear"}


def test_open_vocabulary_detectors_verify_a_scene_with_colors(owlv2_folder, clip_folder):
    from compose.verification.color import ClipColorClassifier

    scene = Scene(objects=[ObjectGroup(name="dog", phrase="a red dog", color="red")])
    detector = get_detector("owlv2", model=str(owlv2_folder), threshold=0.0)
    report = verify(scene, _image(), detector=detector, color_classifier=ClipColorClassifier(str(clip_folder)))
    assert report.detector == "owlv2" and report.detections
    assert all(d.color in ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
               for d in report.detections)
    assert [c.kind for c in report.checks] == ["count", "color"]
    hsv = verify(scene, _image(), detector=detector)  # without CLIP: HSV pixel rules
    assert all(d.color is not None for d in hsv.detections)


def test_missing_models_say_where_they_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    for name in ("owlv2", "grounding-dino"):
        with pytest.raises(BackboneError) as err:
            get_detector(name)
        assert err.value.code == "E504" and str(tmp_path / "cache") in str(err.value)
        with pytest.raises(BackboneError, match="E504"):
            get_detector(name, model=str(tmp_path / "nowhere"))


def test_open_vocabulary_needs_classes(owlv2_folder):
    with pytest.raises(UsageError, match="E006"):
        get_detector("owlv2", model=str(owlv2_folder)).detect(_image(), [])
