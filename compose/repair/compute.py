"""Compute accounting: what a render or a repaint cost, in network evaluations and seconds.

NFE counts every forward pass of the denoising network: a sampler step with classifier-free
guidance is two passes (conditional and unconditional), whether or not the backbone batches them.
A backbone without a network (``procedural``) costs 0 NFE; its renders are still counted, so
compute can be compared in *renders' worth* on every backbone.

Examples
--------
>>> c = Cost(nfe=24, renders=1.0, seconds=0.5) + Cost(nfe=12, renders=0.5, seconds=0.2)
>>> c.nfe, c.renders
(36, 1.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cost:
    """NFE, renders' worth (NFE over the NFE of one default render) and wall seconds."""

    nfe: int = 0
    renders: float = 0.0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.nfe + other.nfe, self.renders + other.renders, self.seconds + other.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"nfe": self.nfe, "renders": round(self.renders, 4), "seconds": round(self.seconds, 4)}


def passes(model, guidance: float | None) -> int:
    """Network passes per sampler step: 2 with classifier-free guidance, 1 without."""
    g = guidance if guidance is not None else getattr(model, "guidance", None)
    if g is None:
        g = getattr(model, "default_guidance", 2.0)  # diffusers backbones guide by default
    return 2 if float(g) != 1.0 else 1


def default_steps(model) -> int | None:
    return getattr(model, "steps", None) or getattr(model, "default_steps", None)


def render_cost(model, images: int, *, steps: int | None, guidance: float | None, seconds: float,
                strength: float = 1.0) -> Cost:
    """The cost of ``images`` renders (or repaints) at ``steps``/``guidance`` (the backbone's
    defaults when ``None``); a repaint at ``strength`` < 1 runs that share of the steps."""
    base = default_steps(model)
    used = steps or base
    if not used:  # no network: count renders only
        return Cost(0, float(images), seconds)
    nfe_one = max(1, round(used * strength)) * passes(model, guidance)
    default_one = base * passes(model, None) if base else nfe_one
    return Cost(nfe_one * images, nfe_one * images / default_one, seconds)
