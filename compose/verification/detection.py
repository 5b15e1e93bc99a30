"""Detections and detectors: one interface from an image to what is in it, and a registry.

A detector turns an image into a list of :class:`Detection` values: a box normalised to 0..1
(origin top-left), a class name, a score, and optionally a mask and a color. Detectors are
plug-ins registered by name, their heavy imports inside their own module, so that looking one
up costs nothing until it runs.

Examples
--------
>>> d = Detection(box=(0.1, 0.2, 0.3, 0.4), class_name="circle", score=0.9, color="red")
>>> d.to_dict()["box"]
[0.1, 0.2, 0.3, 0.4]
>>> "world" in available_detectors()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from compose.boxes import Box
from compose.errors import BackboneError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image



@dataclass
class Detection:
    """One thing found in an image.

    Attributes
    ----------
    box : (float, float, float, float)
        ``(x0, y0, x1, y1)`` normalised to 0..1, origin top-left.
    class_name : str
        What it is, in the scene's words (``"circle"``, ``"teddy bear"``).
    score : float
        The detector's confidence in 0..1.
    mask : numpy.ndarray, optional
        Boolean ``(h, w)`` mask of its visible pixels, at the image's resolution.
    color : str, optional
        A key of :data:`compose.vocabulary.COLORS`, when a color classifier has run.
    color_score : float, optional
        Confidence in the color, 0..1.
    whole : numpy.ndarray, optional
        Boolean ``(h, w)`` mask of the whole object, hidden parts included, where the detector
        can tell (the embedded world's detector draws the shape it fitted); relations such as
        ``behind`` and ``inside`` use it instead of the visible pixels' convex hull.
    """

    box: Box
    class_name: str
    score: float
    mask: np.ndarray | None = None
    color: str | None = None
    color_score: float | None = None
    whole: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the mask is summarised by its pixel count)."""
        out: dict[str, Any] = {"box": [round(float(v), 5) for v in self.box], "class": self.class_name,
                               "score": round(float(self.score), 5)}
        if self.color is not None:
            out["color"] = self.color
        if self.color_score is not None:
            out["color_score"] = round(float(self.color_score), 5)
        if self.mask is not None:
            out["mask_pixels"] = int(self.mask.sum())
        return out


class Detector:
    """Base class of detectors. Subclasses set ``name`` and implement :meth:`detect`.

    ``vocabulary`` is the set of class names a closed-vocabulary detector knows, or ``None`` for
    open-vocabulary detectors, which take the class names to look for as ``classes``.
    """

    name: ClassVar[str] = ""
    vocabulary: ClassVar[frozenset[str] | None] = None

    def detect(self, image: Image.Image, classes: Sequence[str] | None = None) -> list[Detection]:
        raise NotImplementedError


#: Detector name -> ``"module:Class"``; modules are imported only when a detector is asked for.
DETECTORS: dict[str, str] = {}


def register_detector(name: str, target: str) -> None:
    """Register a detector class by import path (``"package.module:Class"``)."""
    DETECTORS[name] = target


def available_detectors() -> list[str]:
    return list(DETECTORS)


def detector_class(name: str) -> type[Detector]:
    """The class registered as ``name``; raises ``BackboneError`` E503 for an unknown name."""
    if name not in DETECTORS:
        raise BackboneError("E503", name=name, expected=", ".join(DETECTORS))
    module, _, attr = DETECTORS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_detector(name: str = "world", **options: Any) -> Detector:
    """Instantiate the detector registered as ``name`` with its options."""
    return detector_class(name)(**options)


def load_image(image: Any) -> Image.Image:
    """An RGB PIL image from a PIL image, a path or an ``(h, w, 3)`` uint8 array.

    Raises ``UsageError`` E502 (exit 2) when a file is missing, truncated or not an image.
    """
    from PIL import Image, ImageOps

    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    if isinstance(image, (str, Path)):
        try:
            from compose.io import read_image  # regular files only, pixels bounded (E007, E507)

            return ImageOps.exif_transpose(read_image(image)).convert("RGB")
        except FileNotFoundError:
            raise UsageError("E502", path=str(image), reason="no such file") from None
        except (OSError, ValueError, SyntaxError) as exc:  # PIL raises these for damaged files
            raise UsageError("E502", path=str(image), reason=str(exc) or type(exc).__name__) from None
    try:
        import numpy as np

        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] == 3:
            return Image.fromarray(array.astype(np.uint8), "RGB")
    except (TypeError, ValueError):
        pass
    raise UsageError("E502", path=type(image).__name__,
                            reason="expected a PIL image, a path or an (h, w, 3) uint8 array")


register_detector("world", "compose.verification.detectors.world:WorldDetector")
register_detector("owlv2", "compose.verification.detectors.owlv2:Owlv2Detector")
register_detector("grounding-dino", "compose.verification.detectors.grounding_dino:GroundingDinoDetector")
register_detector("mask2former", "compose.verification.detectors.mask2former:Mask2FormerDetector")
