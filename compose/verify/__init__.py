"""Verification: detectors find what is in an image; symbolic checks compare it with a scene.

:func:`verify` is the whole step: detect (the embedded world's detector for scenes of shapes, an
open-vocabulary detector otherwise), fill in colors where the detector gave none, bind scene
instances to detections, run every check, and return a :class:`~compose.verify.report.Report`.

Examples
--------
>>> from compose.layouts import Layout, Region
>>> from compose.scene import Scene, ObjectGroup
>>> from compose.world.render import render_layout
>>> scene = Scene(objects=[ObjectGroup(name="circle", phrase="a red circle", color="red")])
>>> lay = Layout(canvas=(64, 64), boxes={"circle#0": (0.3, 0.3, 0.7, 0.7)},
...              objects={"circle#0": Region(phrase="a red circle", **{"class": "circle"}, attributes={"color": "red"})})
>>> report = verify(scene, render_layout(lay).image, layout=lay)
>>> report.passed, [c.kind for c in report.checks]
(True, ['count', 'color'])
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.verify.checks import Check, CountRule, bind_instances, resolve_counts, run_checks
from compose.verify.detection import (Detection, Detector, available_detectors, get_detector, load_image,
                                      register_detector)
from compose.verify.report import Report

if TYPE_CHECKING:  # pragma: no cover
    from compose.layouts import Layout
    from compose.scene import Scene

__all__ = ["Check", "Detection", "Detector", "Report", "available_detectors", "default_detector_name",
           "get_detector", "register_detector", "verify", "fill_colors"]


def default_detector_name(scene: Scene) -> str:
    """``"world"`` when every class the scene names is a shape of the embedded world, else
    ``"owlv2"`` (open vocabulary).

    >>> from compose.scene import Scene, ObjectGroup
    >>> default_detector_name(Scene(objects=[ObjectGroup(name="star", phrase="a star")]))
    'world'
    >>> default_detector_name(Scene(objects=[ObjectGroup(name="dog", phrase="a dog")]))
    'owlv2'
    """
    from compose.world.vocabulary import SHAPES

    names = {g.class_name for g in scene.objects} | {f.name for f in scene.forbidden}
    return "world" if names <= set(SHAPES) else "owlv2"


def fill_colors(image, detections: list[Detection], *, classifier: Any = None) -> None:
    """Give every detection without a color one: ``classifier.classify`` (for instance a
    :class:`~compose.verify.color.ClipColorClassifier`) when given, else HSV pixel rules over the
    detection's mask (its box when it has none)."""
    import numpy as np

    from compose.verify.color import hsv_color

    pixels = None
    for det in detections:
        if det.color is not None:
            continue
        w, h = image.size
        box_px = (int(det.box[0] * w), int(det.box[1] * h), max(int(det.box[0] * w) + 1, round(det.box[2] * w)),
                  max(int(det.box[1] * h) + 1, round(det.box[3] * h)))
        if classifier is not None:
            det.color, det.color_score = classifier.classify(image, box_px, det.mask, det.class_name)
            continue
        if pixels is None:
            pixels = np.asarray(image)
        mask = det.mask
        if mask is None:
            mask = np.zeros(pixels.shape[:2], bool)
            mask[box_px[1]:box_px[3], box_px[0]:box_px[2]] = True
        det.color, det.color_score = hsv_color(pixels, mask)


def verify(scene: Scene, image: Any, *, layout: Layout | None = None, detector: str | Detector | None = None,
           count_rule: CountRule = "exact", color_classifier: Any = None, detections: list[Detection] | None = None,
           image_path: str | None = None) -> Report:
    """Check ``image`` against ``scene``; see :mod:`compose.verify.checks` for the checks.

    Parameters
    ----------
    scene : Scene
    image : PIL image, path or array
    layout : Layout, optional
        The layout the image was drawn from: binds instances by box and shows expected boxes.
    detector : str or Detector, optional
        A registered name (``compose.verify.available_detectors()``) or an instance; by default
        :func:`default_detector_name`.
    count_rule : {"exact", "at_least"}
    color_classifier : optional
        Used for detections without a color (see :func:`fill_colors`).
    detections : list of Detection, optional
        Skip detection and check these.
    """
    started = time.perf_counter()
    if image_path is None and not hasattr(image, "size"):
        image_path = str(image) if isinstance(image, (str,)) or hasattr(image, "__fspath__") else None
    picture = load_image(image)
    if detections is None:
        if detector is None:
            detector = default_detector_name(scene)
        if isinstance(detector, str):
            detector = get_detector(detector)
        classes = sorted({g.class_name for g in scene.objects} | {f.name for f in scene.forbidden})
        detections = detector.detect(picture, classes)
    detected = time.perf_counter()
    fill_colors(picture, detections, classifier=color_classifier)
    binding = bind_instances(scene, detections, resolve_counts(scene, detections, layout), layout)
    checks = run_checks(scene, detections, layout, count_rule=count_rule, binding=binding)
    done = time.perf_counter()
    name = detector.name if isinstance(detector, Detector) else (detector or "given")
    return Report(scene=scene, checks=checks, detections=detections, image_size=picture.size, detector=name,
                  layout=layout, binding=binding, count_rule=count_rule, image_path=image_path,
                  timings={"detect_s": detected - started, "check_s": done - detected})
