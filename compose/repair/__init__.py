"""Repair strategies for the verify-and-repaint loop, one module each, and the policy that
chooses between them from what failed.

- :mod:`~compose.repair.zoom`: zoomed repaint (ADetailer-style): crop the failing region with
  context, repaint that sub-layout at the backbone's native size, paste it back feathered. It
  works above the backbone interface (``repaint`` of a crop), so every backbone has it.
- :mod:`~compose.repair.layer`: layered repair: the failing instances drawn alone on a sprite
  sheet (one render at a third of the steps), their old places erased to their surroundings,
  the sprites composited in z-order (what is in front stays in front). The first choice where
  the detector gives masks.
- :mod:`~compose.repair.replace`: re-placement: move the failing instances with the solver,
  every other box held.
- :mod:`~compose.repair.policy`: the escalation across rounds (layered: a layered round, a
  second only after progress, then fresh layouts, each layered in turn once it is the best;
  otherwise zoom, then zoom with fresh noise, stronger guidance and more steps, then
  re-placement, then a fresh layout), keeping the best image so far.
- :mod:`~compose.repair.compute`: the compute accounting (denoising network evaluations, NFE,
  counting guidance passes).
"""

from compose.repair.compute import Cost, render_cost
from compose.repair.layer import layered_repaint
from compose.repair.policy import Step, choose_step
from compose.repair.replace import replace_instances
from compose.repair.zoom import blend, crop_windows, sub_layout, zoomed_repaint

__all__ = ["Cost", "Step", "blend", "choose_step", "crop_windows", "layered_repaint", "render_cost", "replace_instances",
           "sub_layout", "zoomed_repaint"]
