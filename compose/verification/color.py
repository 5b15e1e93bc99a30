"""The color of a detection: from pixels in the embedded world, by CLIP or HSV rules in photos.

Three methods, one answer type ``(color name, confidence)``:

* :func:`palette_color` — the embedded world draws every object in one exact color of
  :data:`compose.vocabulary.COLORS`, so the median of the object's inner pixels (the mask shrunk
  by one pixel, which drops anti-aliased edges) is nearest to the drawn color even when a
  diffusion model adds noise;
* :class:`ClipColorClassifier` — GenEval's method for real images: the detection's mask pasted on
  a gray (``#999``) canvas, cropped to its box, classified zero-shot by CLIP over the color names
  with GenEval's three templates ("a photo of a {color} {class}", "a photo of a {color}-colored
  {class}", "a photo of a {color} object"), when a CLIP model is available locally;
* :func:`hsv_color` — the fallback without CLIP: each masked pixel votes for a color by fixed
  hue/saturation/value rules (:func:`hsv_rule`), the majority wins and its share is the confidence.

Examples
--------
>>> nearest_color((230, 50, 45))
('red', 0.87...)
>>> hsv_rule(0.0, 0.0, 0.05), hsv_rule(0.33, 0.8, 0.7), hsv_rule(0.08, 0.8, 0.45)
('black', 'green', 'brown')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from compose.vocabulary import COLOR_NAMES, COLORS, GENEVAL_COLORS

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


_PALETTE = np.asarray([COLORS[c] for c in COLOR_NAMES], dtype=np.float32)

#: Distance (RGB units) at which the palette confidence falls to zero.
PALETTE_SCALE = 120.0


def nearest_color(rgb: Sequence[float], names: Sequence[str] = COLOR_NAMES) -> tuple[str, float]:
    """The vocabulary color nearest to ``rgb`` and a confidence that falls with the distance.

    >>> nearest_color((128, 130, 125))[0]
    'gray'
    """
    palette = np.asarray([COLORS[c] for c in names], dtype=np.float32)
    distances = np.linalg.norm(palette - np.asarray(rgb, dtype=np.float32)[None, :], axis=1)
    k = int(distances.argmin())
    return names[k], max(0.0, 1.0 - float(distances[k]) / PALETTE_SCALE)


def inner_pixels(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ``(n, 3)`` pixels of ``mask`` shrunk by one pixel (all of ``mask`` when that is empty)."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask)
    chosen = inner if inner.sum() >= 3 else mask
    return pixels[chosen]


def palette_color(pixels: np.ndarray, mask: np.ndarray, names: Sequence[str] = COLOR_NAMES) -> tuple[str, float]:
    """Color of the masked object in an ``(h, w, 3)`` image of the embedded world.

    The per-channel median of the inner pixels is robust to anti-aliased edges and to noise.

    >>> img = np.zeros((8, 8, 3), np.uint8); img[2:6, 2:6] = (40, 80, 220)
    >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
    >>> palette_color(img, m)
    ('blue', 1.0)
    """
    chosen = inner_pixels(pixels, mask)
    if len(chosen) == 0:
        return "gray", 0.0
    return nearest_color(np.median(chosen.astype(np.float32), axis=0), names)


def hsv_rule(h: float, s: float, v: float) -> str:
    """The color a single pixel's hue, saturation and value (each 0..1) names.

    Dark pixels are black; unsaturated ones white or gray by value; dark oranges and reds are
    brown; light, weakly saturated reds and magentas are pink; the rest go by hue.
    """
    hue = h * 360.0
    if v < 0.2:
        return "black"
    if s < 0.18:
        return "white" if v > 0.75 else ("gray" if v > 0.35 else "black")
    if (hue < 45 or hue >= 345) and v < 0.55:
        return "brown"
    if hue >= 345 or hue < 12:
        return "pink" if s < 0.5 and v > 0.7 else "red"
    if hue < 40:
        return "orange"
    if hue < 70:
        return "yellow"
    if hue < 165:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink"


def hsv_color(pixels: np.ndarray, mask: np.ndarray, names: Sequence[str] = GENEVAL_COLORS) -> tuple[str, float]:
    """Majority vote of :func:`hsv_rule` over the masked pixels, restricted to ``names``.

    >>> img = np.zeros((6, 6, 3), np.uint8); img[1:5, 1:5] = (230, 200, 30)
    >>> m = np.zeros((6, 6), bool); m[1:5, 1:5] = True
    >>> hsv_color(img, m)
    ('yellow', 1.0)
    """
    chosen = inner_pixels(pixels, mask).astype(np.float32) / 255.0
    if len(chosen) == 0:
        return names[0], 0.0
    if len(chosen) > 4096:  # a fixed, evenly spaced subsample keeps large masks fast
        chosen = chosen[:: math.ceil(len(chosen) / 4096)]
    hsv = _rgb_to_hsv(chosen)
    votes: dict[str, int] = {}
    for h, s, v in hsv:
        name = hsv_rule(float(h), float(s), float(v))
        if name not in names and name == "gray":
            name = "white" if v > 0.55 else "black"
        votes[name] = votes.get(name, 0) + 1
    allowed = {k: n for k, n in votes.items() if k in names} or votes
    best = max(allowed, key=lambda k: allowed[k])
    return best, allowed[best] / len(chosen)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    maxc, minc = rgb.max(axis=1), rgb.min(axis=1)
    delta = maxc - minc
    s = np.where(maxc > 0, delta / np.maximum(maxc, 1e-9), 0.0)
    safe = np.maximum(delta, 1e-9)
    h = np.where(maxc == r, ((g - b) / safe) % 6, np.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(delta > 0, h / 6.0, 0.0)
    return np.stack([h, s, maxc], axis=1)


def _features(output):
    """Projected embeddings: a tensor (transformers 4) or the output's ``pooler_output`` (5)."""
    return output if hasattr(output, "norm") else output.pooler_output


#: GenEval's zero-shot templates for color classification.
CLIP_TEMPLATES = ("a photo of a {color} {cls}", "a photo of a {color}-colored {cls}", "a photo of a {color} object")


class ClipColorClassifier:
    """GenEval's color classifier: masked crops on gray, CLIP zero-shot over color names.

    Parameters
    ----------
    model : str
        A local folder with a CLIP model (``CLIPModel`` + ``CLIPProcessor``) or a Hugging Face id
        already in the local cache; nothing is downloaded.
    names : sequence of str
        The colors to choose from (GenEval's ten by default).
    device : str
        Torch device.
    """

    def __init__(self, model: str = "openai/clip-vit-large-patch14", names: Sequence[str] = GENEVAL_COLORS,
                 device: str = "cpu") -> None:
        from transformers import CLIPModel, CLIPProcessor

        from compose.weights import resolve_model

        path = resolve_model("clip-color", model)
        self.model = CLIPModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
        self.names = tuple(names)
        self.device = device
        self._text: dict[str, object] = {}

    def _classifier(self, class_name: str):
        import torch

        if class_name not in self._text:
            rows = []
            with torch.no_grad():
                for color in self.names:
                    prompts = [t.format(color=color, cls=class_name) for t in CLIP_TEMPLATES]
                    tokens = self.processor(text=prompts, return_tensors="pt", padding=True).to(self.device)
                    emb = _features(self.model.get_text_features(**tokens))
                    emb = emb / emb.norm(dim=-1, keepdim=True)
                    mean = emb.mean(dim=0)
                    rows.append(mean / mean.norm())
            self._text[class_name] = torch.stack(rows)
        return self._text[class_name]

    def classify_many(self, image: Image.Image, boxes_px: Sequence[tuple[int, int, int, int]],
                      masks: Sequence[np.ndarray | None], class_name: str) -> list[str]:
        """GenEval's ``color_classification``: one color per object, from its mask composited on
        gray (``#999``) and cropped to its box, in batches of 16 as GenEval runs them."""
        import torch

        crops = [self._crop(image, box, mask) for box, mask in zip(boxes_px, masks)]
        out: list[str] = []
        with torch.no_grad():
            for start in range(0, len(crops), 16):
                inputs = self.processor(images=crops[start:start + 16], return_tensors="pt").to(self.device)
                emb = _features(self.model.get_image_features(**inputs))
                emb = emb / emb.norm(dim=-1, keepdim=True)
                logits = 100.0 * emb @ self._classifier(class_name).T
                out.extend(self.names[int(k)] for k in logits.argmax(dim=-1))
        return out

    @staticmethod
    def _crop(image: Image.Image, box_px: tuple[int, int, int, int], mask: np.ndarray | None) -> Image.Image:
        from PIL import Image as PILImage

        crop = image
        if mask is not None:
            blank = PILImage.new("RGB", image.size, "#999999")
            crop = PILImage.composite(image, blank, PILImage.fromarray((np.asarray(mask) * 255).astype(np.uint8), "L"))
        return crop.crop(box_px)

    def classify(self, image: Image.Image, box_px: tuple[int, int, int, int], mask: np.ndarray | None,
                 class_name: str) -> tuple[str, float]:
        """Color of one detection: its mask on gray, cropped to ``box_px`` (pixels)."""
        import torch

        crop = self._crop(image, box_px, mask)
        with torch.no_grad():
            inputs = self.processor(images=crop, return_tensors="pt").to(self.device)
            emb = _features(self.model.get_image_features(**inputs))
            emb = emb / emb.norm(dim=-1, keepdim=True)
            logits = 100.0 * emb @ self._classifier(class_name).T
            probs = logits.softmax(dim=-1)[0]
        k = int(probs.argmax())
        return self.names[k], float(probs[k])
