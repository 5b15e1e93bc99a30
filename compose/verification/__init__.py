"""Verification: detectors find what is in an image; symbolic checks compare it with a scene.

- :mod:`~compose.verification.verify`: the step, :func:`verify` (``compose.verify``);
- :mod:`~compose.verification.detection`: :class:`Detection`, :class:`Detector` and the registry
  (``world``, ``owlv2``, ``grounding-dino``, ``mask2former``);
- :mod:`~compose.verification.checks`: the symbolic checks; :mod:`~compose.verification.report`:
  reports as JSON and HTML;
- :mod:`~compose.verification.geneval`: GenEval's formats, its own protocol and its summaries;
  :mod:`~compose.verification.coco`: detections from a COCO results file;
  :mod:`~compose.verification.folders`: other benchmarks' image folders.
"""

from __future__ import annotations

from compose.verification.checks import Check
from compose.verification.detection import (
    Detection,
    Detector,
    available_detectors,
    get_detector,
    load_image,
    register_detector,
)
from compose.verification.report import Report
from compose.verification.verify import (
    default_detector_name,
    fill_colors,
    layout_hypotheses,
    verify,
    world_scene,
)

__all__ = [
    "Check",
    "Detection",
    "Detector",
    "Report",
    "available_detectors",
    "default_detector_name",
    "fill_colors",
    "get_detector",
    "layout_hypotheses",
    "load_image",
    "register_detector",
    "verify",
    "world_scene",
]
