"""Grounding DINO (Liu et al. 2023): zero-shot, open-vocabulary detection grounded in a caption.

The class names are joined into one caption, ``"cat. teddy bear. dog."``, as the model was trained.
Each of the model's queries predicts a box and, for every caption token, a logit. A query's score
for a class is the best sigmoid over that class's tokens (the tokens between two periods); its
class is the best-scoring class, kept when the score reaches ``threshold``; per class, overlapping
boxes are suppressed and at most ``max_per_class`` kept. Boxes are fractions of the image.

Weights come from a local folder or the Hugging Face cache only (``local_files_only=True``); a
model that is not on this machine is error E504, which lists where it looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compose.boxes import non_max_suppression
from compose.errors import UsageError
from compose.verification.detection import Detection, Detector, load_image
from compose.weights import require_transformers, resolve_model


class GroundingDinoDetector(Detector):
    """Open-vocabulary detector on ``transformers``' ``GroundingDinoForObjectDetection``.

    Parameters
    ----------
    model : str
        A local folder (``save_pretrained`` output) or a hub id in the local cache.
    threshold : float
        Smallest class score kept (Grounding DINO's box threshold).
    nms_iou : float
        Boxes of one class overlapping a better one by more than this IoU are dropped.
    max_per_class : int
        At most this many detections per class.
    device, dtype : optional
        Torch device and dtype.
    """

    name = "grounding-dino"
    vocabulary = None
    default_model = "IDEA-Research/grounding-dino-tiny"

    def __init__(self, model: str | None = None, *, threshold: float = 0.3, nms_iou: float = 0.5,
                 max_per_class: int = 16, device: str = "cpu", dtype: Any = None) -> None:
        require_transformers(self.name)
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        path = resolve_model(self.name, model or self.default_model)
        self.processor = GroundingDinoProcessor.from_pretrained(path, local_files_only=True)
        extra = {} if dtype is None else {"dtype": dtype}
        self.model = GroundingDinoForObjectDetection.from_pretrained(path, local_files_only=True, **extra).to(device).eval()
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.max_per_class = int(max_per_class)
        self.device = device

    @staticmethod
    def caption(classes: Sequence[str]) -> str:
        """The caption the model reads.

        >>> GroundingDinoDetector.caption(["Teddy bear", "dog"])
        'teddy bear. dog.'
        """
        return " ".join(f"{c.lower().strip()}." for c in classes)

    def class_spans(self, input_ids: Sequence[int], n_classes: int) -> list[list[int]]:
        """Token positions of each class in the tokenized caption (between periods)."""
        period = self.processor.tokenizer.convert_tokens_to_ids(".")
        special = set(self.processor.tokenizer.all_special_ids)
        spans: list[list[int]] = [[]]
        for position, token in enumerate(input_ids):
            if token == period:
                spans.append([])
            elif token not in special:
                spans[-1].append(position)
        return [s for s in spans if s][:n_classes]

    def scores_and_boxes(self, outputs, input_ids: Sequence[int], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Per query: its score for each class ``(queries, classes)`` and its box ``(queries, 4)``
        as ``x0, y0, x1, y1`` fractions of the image."""
        probs = outputs.logits[0].float().sigmoid().cpu().numpy()  # (queries, text positions)
        spans = self.class_spans(list(input_ids), n_classes)
        if len(spans) != n_classes:
            raise UsageError("E006", argument="classes", value=n_classes,
                             expected=f"class names the tokenizer can read (found {len(spans)} in the caption)")
        per_class = np.stack([probs[:, span].max(axis=1) for span in spans], axis=1)
        cx, cy, bw, bh = outputs.pred_boxes[0].float().cpu().numpy().T
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).clip(0, 1)
        return per_class, boxes

    def detect(self, image, classes: Sequence[str] | None = None) -> list[Detection]:
        """Find ``classes`` (required: an open vocabulary has no default) in ``image``."""
        import torch

        if not classes:
            raise UsageError("E006", argument="classes", value=classes,
                             expected="the class names to look for (Grounding DINO is open-vocabulary)")
        picture = load_image(image)
        # 1. caption and pixels
        inputs = self.processor(images=picture, text=self.caption(classes), return_tensors="pt").to(self.device)
        # 2. one forward pass
        with torch.no_grad():
            outputs = self.model(**inputs)
        # 3. class scores per query
        per_class, boxes = self.scores_and_boxes(outputs, inputs["input_ids"][0].tolist(), len(classes))
        label = per_class.argmax(axis=1)
        score = per_class[np.arange(len(per_class)), label]
        # 4. threshold, per-class suppression
        detections = []
        for k, cls in enumerate(classes):
            chosen = np.flatnonzero((label == k) & (score >= self.threshold))
            keep = non_max_suppression(boxes[chosen], score[chosen], self.nms_iou)[: self.max_per_class]
            for i in chosen[keep]:
                x0, y0, x1, y1 = (float(v) for v in boxes[i])
                if x1 > x0 and y1 > y0:
                    detections.append(Detection(box=(x0, y0, x1, y1), class_name=cls, score=float(score[i])))
        detections.sort(key=lambda d: -d.score)
        return detections
