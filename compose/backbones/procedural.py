"""``procedural``: the embedded world drawn exactly, without a model.

Programmatic synthesis: every shape fills its box in its color, back to front, anti-aliased
(:func:`compose.world.draw.render_layout`). It is the ground truth the ``embedded`` model is
trained on and measured against, and a backbone in its own right. Repainting redraws the masked
region from the layout and keeps every other pixel.

Examples
--------
>>> from compose.layouts import Layout, Region
>>> lay = Layout(canvas=(32, 32), boxes={"s#0": (0.25, 0.25, 0.75, 0.75)},
...              objects={"s#0": Region(phrase="a blue square", **{"class": "square"}, attributes={"color": "blue"})})
>>> result = ProceduralBackbone().render([lay], seeds=[0])
>>> result.images[0].getpixel((16, 16))
(40, 80, 220)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from compose.backbones.base import (
    Backbone,
    RenderResult,
    check_render_inputs,
    check_repaint_inputs,
    check_strength,
    paste_outside,
)
from compose.vocabulary import SHAPES

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout


class ProceduralBackbone(Backbone):
    """Draws layouts of the embedded world's shapes exactly (see the module docstring).

    Parameters
    ----------
    size : int, optional
        Side of the output in pixels (longest side); defaults to each layout's canvas.
    supersample : int, optional
        Anti-aliasing factor (default 4, 2 above 256 pixels).
    """

    name = "procedural"
    vocabulary = frozenset(SHAPES)
    default_detector = "world"
    default_steps = None

    def __init__(self, size: int | None = None, supersample: int | None = None, **_ignored) -> None:
        self.size = size
        self.supersample = supersample

    def _size(self, layout: Layout) -> tuple[int, int]:
        if not self.size:
            return layout.canvas
        w, h = layout.canvas
        scale = self.size / max(w, h)
        return max(1, round(w * scale)), max(1, round(h * scale))

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        from compose.world.draw import render_layout

        check_render_inputs(self.name, layouts, seeds, steps, guidance)
        for layout in layouts:
            self.check_layout(layout)
        start = time.perf_counter()
        images = [render_layout(lay, self._size(lay), seed=int(seed), supersample=self.supersample,
                                with_masks=False).image for lay, seed in zip(layouts, seeds)]
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=None,
                            timings={"render_s": time.perf_counter() - start})

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        from compose.world.draw import render_layout

        check_repaint_inputs(self.name, images, masks, layouts, seeds, steps, guidance)
        check_strength(self.name, strength)
        for layout in layouts:
            self.check_layout(layout)
        start = time.perf_counter()
        out = []
        for image, mask, lay, seed in zip(images, masks, layouts, seeds):
            fresh = render_layout(lay, image.size, seed=int(seed), supersample=self.supersample,
                                  with_masks=False).image
            out.append(paste_outside(image.convert("RGB"), fresh, mask))
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=None,
                            timings={"repaint_s": time.perf_counter() - start})
