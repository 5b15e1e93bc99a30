"""Mask2Former (Cheng et al. 2022), COCO instance segmentation: GenEval's detector, without mmdet.

GenEval runs Mask2Former (Swin-S, COCO instances) through mmdet 2.x. This detector runs the same
architecture through ``transformers``' ``Mask2FormerForUniversalSegmentation`` and turns its
queries into instances the way mmdet's ``MaskFormerFusionHead.instance_postprocess`` does, so
GenEval's protocol (:class:`compose.verification.geneval.GenevalProtocol`) sees what it saw there:

1. class scores: softmax over the classes and "no object", the last dropped;
2. the ``max_per_image`` (100) best (query, class) pairs over all queries and classes;
3. each chosen query's mask logits, upsampled to the image, cut at 0 (sigmoid 0.5);
4. score = class score times the mean sigmoid inside the binary mask;
5. the box of each mask: ``(min x, min y, max x + 1, max y + 1)`` in pixels (mmdet's ``mask2bbox``).

Classes are the model's 80 COCO thing classes in order, named as GenEval names them
(:data:`compose.prompts.lexicon.GENEVAL_CLASSES`: ``computer mouse`` where COCO says ``mouse``).
Weights come from a local folder or the Hugging Face cache only (E504 lists where it looked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compose.errors import BackboneError
from compose.prompts.lexicon import GENEVAL_CLASSES
from compose.verification.detection import Detection, Detector, load_image
from compose.weights import require_transformers, resolve_model


class Mask2FormerDetector(Detector):
    """Closed-vocabulary instance segmentation with GenEval's 80 classes.

    Parameters
    ----------
    model : str
        A local folder (``save_pretrained`` output of a ``Mask2FormerForUniversalSegmentation``
        and its image processor) or a hub id in the local cache.
    threshold : float
        Smallest score returned. GenEval's protocol applies its own thresholds (0.3, 0.9 for
        counting) and builds this detector with ``threshold=0``.
    max_per_image : int
        (query, class) pairs kept before thresholding (mmdet's ``max_per_image``, 100).
    device, dtype : optional
        Torch device and dtype.
    """

    name = "mask2former"
    vocabulary = frozenset(GENEVAL_CLASSES)
    default_model = "facebook/mask2former-swin-small-coco-instance"

    def __init__(self, model: str | None = None, *, threshold: float = 0.3, max_per_image: int = 100,
                 device: str = "cpu", dtype: Any = None) -> None:
        require_transformers(self.name)
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        path = resolve_model(self.name, model or self.default_model)
        self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        extra = {} if dtype is None else {"dtype": dtype}
        self.model = Mask2FormerForUniversalSegmentation.from_pretrained(path, local_files_only=True,
                                                                         **extra).to(device).eval()
        labels = self.model.config.id2label
        classes = GENEVAL_CLASSES
        if len(labels) != len(classes):
            raise BackboneError("E504", name=self.name,
                                looked=f"{path}: a COCO instance model with {len(classes)} classes "
                                       f"(this one has {len(labels)})")
        self.classes = classes
        self.threshold = float(threshold)
        self.max_per_image = int(max_per_image)
        self.device = device

    def instances(self, outputs, pixel_mask, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                              np.ndarray]:
        """``(labels, scores, masks, boxes)`` of the best ``max_per_image`` (query, class)
        pairs: class indices, scores, boolean ``(n, h, w)`` masks at the image's ``(w, h)`` and
        pixel boxes ``(n, 4)``."""
        import torch.nn.functional as F

        w, h = size
        logits = outputs.class_queries_logits[0].float()
        num_classes = logits.shape[-1] - 1
        scores = logits.softmax(dim=-1)[:, :-1]
        k = min(self.max_per_image, scores.numel())
        top_scores, top = scores.flatten().topk(k, sorted=True)
        labels = top % num_classes
        queries = top // num_classes
        masks = outputs.masks_queries_logits[0, queries].float()[None]
        # as mmdet: upsample to the padded input, cut the padding, resize to the image
        ph, pw = pixel_mask.shape[-2:]
        masks = F.interpolate(masks, size=(ph, pw), mode="bilinear", align_corners=False)
        valid_h = int(pixel_mask[0].any(dim=1).sum())
        valid_w = int(pixel_mask[0].any(dim=0).sum())
        masks = masks[..., :valid_h, :valid_w]
        masks = F.interpolate(masks, size=(h, w), mode="bilinear", align_corners=False)[0]
        binary = masks > 0
        mask_scores = (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
        det_scores = top_scores * mask_scores
        binary_np = binary.cpu().numpy()
        boxes = np.zeros((len(binary_np), 4), dtype=np.float64)
        cols, rows = binary_np.any(axis=1), binary_np.any(axis=2)
        for i in range(len(binary_np)):
            xs, ys = np.flatnonzero(cols[i]), np.flatnonzero(rows[i])
            if len(xs) and len(ys):
                boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
        return labels.cpu().numpy(), det_scores.cpu().numpy(), binary_np, boxes

    def detect(self, image, classes: Sequence[str] | None = None) -> list[Detection]:
        """Instances of ``classes`` (default: all 80) in ``image``, best first."""
        import torch

        picture = load_image(image)
        w, h = picture.size
        inputs = self.processor(images=picture, return_tensors="pt")
        pixel_mask = inputs.get("pixel_mask")
        if pixel_mask is None:
            pixel_mask = torch.ones(inputs["pixel_values"].shape[-2:], dtype=torch.long)[None]
        with torch.no_grad():
            outputs = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.model.dtype))
            labels, scores, masks, boxes = self.instances(outputs, pixel_mask, (w, h))
        wanted = set(classes) if classes else None
        found = []
        for label, score, mask, box in zip(labels, scores, masks, boxes):
            name = self.classes[int(label)]
            if (wanted is not None and name not in wanted) or score < self.threshold or box[2] <= box[0]:
                continue
            found.append(Detection(box=(box[0] / w, box[1] / h, box[2] / w, box[3] / h), class_name=name,
                                   score=float(score), mask=mask))
        found.sort(key=lambda d: -d.score)
        return found
