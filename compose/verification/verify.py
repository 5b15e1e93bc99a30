"""The verification step: detect, fill in colors, bind scene instances to detections, check.

:func:`verify` is the whole step: detect (the embedded world's detector for scenes of shapes, an
open-vocabulary detector otherwise), fill in colors where the detector gave none, bind scene
instances to detections, run every check, and return a
:class:`~compose.verification.report.Report`.

Examples
--------
>>> from compose.layouts import Layout, Region
>>> from compose.scene import Scene, ObjectGroup
>>> from compose.world.draw import render_layout
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

from compose.verification.checks import CountRule, bind_instances, resolve_counts, run_checks
from compose.verification.detection import Detection, Detector, get_detector, load_image
from compose.verification.report import Report

if TYPE_CHECKING:  # pragma: no cover
    from compose.layouts import Layout
    from compose.scene import Scene

__all__ = ["default_detector_name", "fill_colors", "verify", "world_scene"]


def world_scene(scene: Scene) -> Scene | None:
    """The scene as the embedded world draws it, or ``None`` when it names something else.

    The world's renderer takes a group's shape from its class, else from a shape word in its
    phrase, and its color from ``color``, else from a color word in the phrase
    (:func:`compose.vocabulary.phrase_to_object`); the checks must read the scene the same
    way, so ``object s "a red square"`` is checked as a red square.

    >>> from compose.scene import Scene, ObjectGroup
    >>> s = world_scene(Scene(objects=[ObjectGroup(name="s", phrase="a red square")]))
    >>> s.objects[0].class_name, s.objects[0].color
    ('square', 'red')
    >>> world_scene(Scene(objects=[ObjectGroup(name="dog", phrase="a dog")])) is None
    True
    """
    from compose.vocabulary import phrase_to_object, shape_name

    groups = []
    for group in scene.objects:
        shape, color = phrase_to_object(group.phrase)
        shape = shape_name(group.class_name) or shape
        if shape is None:
            return None
        groups.append(group.model_copy(update={"class_name": shape, "color": group.color or color}))
    forbidden = []
    for item in scene.forbidden:
        shape = shape_name(item.name) or phrase_to_object(item.name)[0]
        if shape is None:
            return None
        forbidden.append(item.model_copy(update={"name": shape}))
    return scene.model_copy(update={"objects": groups, "forbidden": forbidden})


def default_detector_name(scene: Scene) -> str:
    """``"world"`` when every object the scene names is a shape of the embedded world (by class
    or phrase, see :func:`world_scene`), else ``"owlv2"`` (open vocabulary).

    >>> from compose.scene import Scene, ObjectGroup
    >>> default_detector_name(Scene(objects=[ObjectGroup(name="star", phrase="a star")]))
    'world'
    >>> default_detector_name(Scene(objects=[ObjectGroup(name="dog", phrase="a dog")]))
    'owlv2'
    """
    return "world" if world_scene(scene) is not None else "owlv2"


def fill_colors(image, detections: list[Detection], *, classifier: Any = None) -> None:
    """Give every detection without a color one: ``classifier.classify`` (for instance a
    :class:`~compose.verification.color.ClipColorClassifier`) when given, else HSV pixel rules over the
    detection's mask (its box when it has none)."""
    import numpy as np

    from compose.verification.color import hsv_color

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


def layout_hypotheses(layout: Layout) -> list[tuple[tuple[float, float, float, float], str | None]]:
    """The ``(box, color)`` of every instance of ``layout``: what the world detector is given as
    hypotheses of where like-colored shapes that touch lie (``WorldDetector.detect(expected=)``).

    >>> from compose.layouts import Layout, Region
    >>> lay = Layout(canvas=(64, 64), boxes={"a#0": (0.1, 0.1, 0.4, 0.4)},
    ...              objects={"a#0": Region(phrase="a red star", attributes={"color": "red"}, **{"class": "star"})})
    >>> layout_hypotheses(lay)
    [((0.1, 0.1, 0.4, 0.4), 'red')]
    """
    return [(box, layout.objects[i].attributes.get("color") if i in layout.objects else None)
            for i, box in layout.boxes.items()]


def verify(scene: Scene, image: Any, *, layout: Layout | None = None, detector: str | Detector | None = None,
           count_rule: CountRule = "exact", color_classifier: Any = None, detections: list[Detection] | None = None,
           image_path: str | None = None) -> Report:
    """Check ``image`` against ``scene``; see :mod:`compose.verification.checks` for the checks.

    Parameters
    ----------
    scene : Scene
    image : PIL image, path or array
    layout : Layout, optional
        The layout the image was drawn from: binds instances by box and shows expected boxes.
    detector : str or Detector, optional
        A registered name (``compose.verification.available_detectors()``) or an instance; by default
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
        if detector.name == "world":
            scene = world_scene(scene) or scene
        classes = sorted({g.class_name for g in scene.objects} | {f.name for f in scene.forbidden})
        if detector.name == "world" and layout is not None:
            detections = detector.detect(picture, classes, expected=layout_hypotheses(layout))
        else:
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
