"""Repaint planning: from failing checks to the regions to re-denoise and the layout to use.

The verify stage says *what* is wrong; this module says *where* to repaint and *with what*:

- a missing instance -> repaint its layout box with its phrase;
- an extra object (too many of a class, or a forbidden thing) -> repaint that detection's box as
  background (the layout there holds no object, so the backbone draws background);
- a wrong color -> repaint that instance's box (and where it was found) with its phrase;
- a failed relation -> re-place the failing subject with the rest of the layout held fixed
  (:func:`compose.placement.place` with ``fixed=``) and repaint its old box (now background) and its
  new box.

Masks are the union of the regions, dilated and feathered; pixels where the mask is 0 stay exactly
as they were. The re-denoising itself is each backbone's ``repaint``, built on the one masked
sampler :func:`compose.backbones.sampling.sample`.

Examples
--------
>>> m = region_mask([(0.25, 0.25, 0.5, 0.5)], (16, 16), dilate=0.0, feather=0.0)
>>> m.size, m.getpixel((5, 5)), m.getpixel((0, 0))
((16, 16), 255, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compose.boxes import Box, union

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout
    from compose.scene import Scene


@dataclass
class RepaintRegion:
    """One box to re-denoise; ``instance`` is drawn there, or background when it is ``None``."""

    box: Box
    reason: str
    instance: str | None = None


@dataclass
class RepaintPlan:
    """What one repaint round does: its regions and the layout that conditions the backbone."""

    regions: list[RepaintRegion]
    layout: Layout
    moved: dict[str, Box] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"regions": [{"box": [round(v, 4) for v in r.box], "reason": r.reason, "instance": r.instance}
                            for r in self.regions],
                "moved": {k: [round(v, 4) for v in b] for k, b in self.moved.items()}}


#: A detection bound to an instance widens its repaint region only when it is at most this many
#: times the instance's box: a larger one is several like-colored objects merged into one blob,
#: and repainting all of it would wipe the others.
MAX_GROWTH = 2.0


def with_detection(box: Box, detection: Box | None) -> Box:
    """``box`` widened to hold ``detection`` (where the instance was found), unless the detection
    is more than :data:`MAX_GROWTH` times the box (a merged blob)."""
    if detection is None:
        return box
    area = max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))
    if (detection[2] - detection[0]) * (detection[3] - detection[1]) > MAX_GROWTH * area:
        return box
    return union(box, detection)


def plan_repaint(scene: Scene, layout: Layout, report, *, seed: int) -> RepaintPlan | None:
    """Regions to repaint for the failing hard checks of ``report`` (``None`` when nothing can be
    done: every hard check passes, or no failing check maps to a region).

    Parameters
    ----------
    scene : Scene
    layout : Layout
        The layout the image was rendered from.
    report : compose.verification.report.Report
        The verify stage's report: its ``checks`` (kind, passed, hard, subjects, detections,
        predicate), ``detections`` and the instance -> detection ``binding``.
    seed : int
        Seeds the re-placement of instances in failed relations.
    """
    detections = list(report.detections)
    binding = report.binding  # the verifier's instance -> detection assignment, reused as is
    bound = {k for k in binding.values() if k is not None}
    regions: list[RepaintRegion] = []
    planned_instances: set[str] = set()
    cleared: set[int] = set()
    failing = [c for c in report.checks if c.hard and not c.passed]

    def paint_instance(instance: str, reason: str, extra: Box | None = None) -> None:
        if instance in planned_instances or instance not in layout.boxes:
            return
        box = layout.boxes[instance]
        regions.append(RepaintRegion(with_detection(box, extra), reason, instance))
        planned_instances.add(instance)

    def clear_detection(k: int, reason: str) -> None:
        if k not in cleared:
            regions.append(RepaintRegion(tuple(detections[k].box), reason, None))  # type: ignore[arg-type]
            cleared.add(k)

    for check in failing:
        if check.kind in ("count", "count_range", "presence"):
            group = check.subjects[0]
            for instance in (i for i in layout.boxes if i.split("#")[0] == group):
                if binding.get(instance) is None:
                    paint_instance(instance, f"missing: {check.reason}")
            for k in check.detections:  # detections of the class that no instance claims
                if k not in bound:
                    clear_detection(k, f"extra: {check.reason}")
        elif check.kind == "forbidden" or (check.kind == "require" and check.detections):
            for k in check.detections:
                if check.kind == "forbidden" or k not in bound:
                    clear_detection(k, f"{check.kind}: {check.reason}")
        elif check.kind == "color":
            instance = check.subjects[0]
            k = binding.get(instance)
            paint_instance(instance, f"color: {check.reason}",
                           tuple(detections[k].box) if k is not None else None)  # type: ignore[arg-type]

    # relations last: instances repainted above already get a fresh draw in place
    moved: dict[str, Box] = {}
    relation_failures = [c for c in failing if c.kind == "relation"
                         and all(binding.get(i) is not None for i in c.subjects)]
    to_move = []
    for check in relation_failures:
        subject = check.subjects[0]
        if subject not in to_move and subject not in planned_instances:
            to_move.append(subject)
    new_layout = layout
    if to_move:
        from compose.errors import LayoutError
        from compose.placement import place as solve_layout

        fixed = {i: b for i, b in layout.boxes.items() if i not in to_move}
        try:
            candidate = solve_layout(scene, seed=seed, fixed=fixed)
        except LayoutError:
            candidate = None
        for instance in to_move:
            reason = next(c.reason for c in relation_failures if c.subjects[0] == instance)
            if candidate is None:  # nowhere else to go: redraw it where it is
                paint_instance(instance, f"relation (in place): {reason}")
                continue
            old, new = layout.boxes[instance], candidate.boxes[instance]
            k = binding.get(instance)
            regions.append(RepaintRegion(with_detection(old, tuple(detections[k].box)) if k is not None else old,  # type: ignore[arg-type]
                                         f"relation (old place): {reason}", None))
            regions.append(RepaintRegion(new, f"relation (new place): {reason}", instance))
            moved[instance] = new
        if moved:
            boxes = dict(layout.boxes)
            boxes.update(moved)
            new_layout = layout.model_copy(update={"boxes": boxes})
    if not regions:
        return None
    return RepaintPlan(regions=regions, layout=new_layout, moved=moved)


def region_mask(boxes: list[Box], size: tuple[int, int], *, dilate: float = 0.04,
                feather: float = 0.02) -> Image.Image:
    """An ``L`` mask (255 = repaint) covering ``boxes``, grown by ``dilate`` and softened by
    ``feather`` (both fractions of the image side), at ``size`` = (width, height).

    The feather only spreads outwards: every pixel of every box is fully repainted, and pixels
    beyond the dilated, feathered border are 0 and stay untouched.
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    grow_x, grow_y = dilate * w, dilate * h
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0 * w - grow_x, y0 * h - grow_y, x1 * w + grow_x - 1, y1 * h + grow_y - 1], fill=255)
    radius = feather * max(w, h)
    if radius > 0:
        blurred = mask.filter(ImageFilter.GaussianBlur(radius))
        mask = Image.fromarray(np.maximum(np.asarray(mask), np.asarray(blurred)))
    return mask
