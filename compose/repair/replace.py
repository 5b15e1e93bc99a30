"""Re-placement: move failing instances with the solver, every other box held.

When an object keeps failing where it is (drawn over by a neighbour, too small to draw, or in a
failed relation), a new box from :func:`compose.placement.place` with ``fixed=`` (all other boxes)
gives the backbone another chance on a clean patch of background. The old place is repainted as
background (with the detection that was found there, if any), the new one with the instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from compose.layouts import Layout
    from compose.repaint import RepaintPlan
    from compose.scene import Scene


def replace_instances(scene: Scene, layout: Layout, instances: list[str], *, seed: int, report=None,
                      reason: str = "re-placed") -> RepaintPlan | None:
    """A repaint plan that moves ``instances`` (solver, others fixed); ``None`` when the solver
    finds no other place for them (or none of them is in the layout)."""
    from compose.errors import LayoutError
    from compose.placement import place as solve_layout
    from compose.repaint import RepaintPlan, RepaintRegion, with_detection

    instances = [i for i in instances if i in layout.boxes]
    if not instances:
        return None
    fixed = {i: b for i, b in layout.boxes.items() if i not in instances}
    try:
        candidate = solve_layout(scene, seed=seed, fixed=fixed)
    except LayoutError:
        return None
    binding = getattr(report, "binding", {}) or {}
    detections = list(getattr(report, "detections", []) or [])
    regions, moved = [], {}
    for instance in instances:
        old, new = layout.boxes[instance], candidate.boxes.get(instance)
        if new is None or new == old:
            continue
        k = binding.get(instance)
        if k is not None and k < len(detections):
            old = with_detection(old, tuple(detections[k].box))
        regions.append(RepaintRegion(old, f"{reason} (old place)", None))
        regions.append(RepaintRegion(new, f"{reason} (new place)", instance))
        moved[instance] = new
    if not moved:
        return None
    boxes = dict(layout.boxes)
    boxes.update(moved)
    return RepaintPlan(regions=regions, layout=layout.model_copy(update={"boxes": boxes}), moved=moved)
