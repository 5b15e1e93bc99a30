"""OWLv2 (Minderer et al. 2023): zero-shot, open-vocabulary detection for real images.

Each class name becomes a text query ("a photo of a {class}"); every image patch predicts a box
and a similarity to each query. A patch's class is its best query, kept when the sigmoid score
reaches ``threshold``; per class, overlapping boxes are suppressed (non-maximum suppression) and
at most ``max_per_class`` kept. OWLv2 pads the image to a square at the bottom and right, so its
boxes are fractions of that square and are rescaled to the image here.

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


class Owlv2Detector(Detector):
    """Open-vocabulary detector on ``transformers``' ``Owlv2ForObjectDetection``.

    Parameters
    ----------
    model : str
        A local folder (``save_pretrained`` output) or a hub id in the local cache.
    threshold : float
        Smallest sigmoid score kept.
    nms_iou : float
        Boxes of one class overlapping a better one by more than this IoU are dropped.
    max_per_class : int
        At most this many detections per class (GenEval keeps 16).
    template : str
        How a class name becomes a text query.
    device, dtype : optional
        Torch device and dtype.
    """

    name = "owlv2"
    vocabulary = None
    default_model = "google/owlv2-base-patch16-ensemble"

    def __init__(self, model: str | None = None, *, threshold: float = 0.2, nms_iou: float = 0.5,
                 max_per_class: int = 16, template: str = "a photo of a {}", device: str = "cpu",
                 dtype: Any = None) -> None:
        require_transformers(self.name)
        from transformers import Owlv2ForObjectDetection, Owlv2Processor

        path = resolve_model(self.name, model or self.default_model)
        self.processor = Owlv2Processor.from_pretrained(path, local_files_only=True)
        extra = {} if dtype is None else {"dtype": dtype}
        self.model = Owlv2ForObjectDetection.from_pretrained(path, local_files_only=True, **extra).to(device).eval()
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.max_per_class = int(max_per_class)
        self.template = template
        self.device = device

    @staticmethod
    def scores_and_boxes(outputs, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per patch: its sigmoid score for each query ``(patches, queries)`` and its box
        ``(patches, 4)`` as ``x0, y0, x1, y1`` fractions of the ``(w, h)`` image (OWLv2's boxes are
        fractions of the image padded to a square at the bottom and right)."""
        w, h = size
        probs = outputs.logits[0].float().sigmoid().cpu().numpy()
        cx, cy, bw, bh = outputs.pred_boxes[0].float().cpu().numpy().T * float(max(w, h))
        xyxy = np.stack([(cx - bw / 2) / w, (cy - bh / 2) / h, (cx + bw / 2) / w, (cy + bh / 2) / h], axis=1)
        return probs, xyxy.clip(0, 1)

    def detect(self, image, classes: Sequence[str] | None = None) -> list[Detection]:
        """Find ``classes`` (required: an open vocabulary has no default) in ``image``."""
        import torch

        if not classes:
            raise UsageError("E006", argument="classes", value=classes,
                             expected="the class names to look for (OWLv2 is open-vocabulary)")
        picture = load_image(image)
        w, h = picture.size
        # 1. queries and pixels
        queries = [self.template.format(c) for c in classes]
        inputs = self.processor(text=[queries], images=picture, return_tensors="pt", truncation=True).to(self.device)
        # 2. one forward pass
        with torch.no_grad():
            outputs = self.model(**inputs)
        # 3. best query per patch, boxes from the padded square back to the image
        probs, xyxy = self.scores_and_boxes(outputs, (w, h))
        label = probs.argmax(axis=1)
        score = probs[np.arange(len(probs)), label]
        # 4. threshold, per-class suppression
        detections = []
        for k, cls in enumerate(classes):
            chosen = np.flatnonzero((label == k) & (score >= self.threshold))
            keep = non_max_suppression(xyxy[chosen], score[chosen], self.nms_iou)[: self.max_per_class]
            for i in chosen[keep]:
                x0, y0, x1, y1 = (float(v) for v in xyxy[i])
                if x1 > x0 and y1 > y0:
                    detections.append(Detection(box=(x0, y0, x1, y1), class_name=cls, score=float(score[i])))
        detections.sort(key=lambda d: -d.score)
        return detections
