"""The one interface every backbone implements, and the registry of backbones by name.

Every backbone takes the same conditioning: :class:`~compose.layouts.Layout` values (boxes with
phrases, classes and attributes, plus the global prompts) and a seed, step count, guidance,
device and dtype; each returns images plus what it did (timings, seeds, steps).

Examples
--------
>>> "embedded" in available_backbones() and "procedural" in available_backbones()
True
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from compose.errors import BackboneError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout


@dataclass
class RenderResult:
    """Images a backbone made, in the order of the layouts it was given, and what it did."""

    images: list[Image.Image]
    seeds: list[int]
    steps: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Backbone:
    """Base class of backbones. Subclasses set ``name`` and implement :meth:`render`.

    ``vocabulary`` is ``None`` for open-vocabulary backbones, or the set of class names the
    backbone can draw; :meth:`check_layout` raises E402 for anything outside it.
    """

    name: ClassVar[str] = ""
    vocabulary: ClassVar[frozenset[str] | None] = None
    default_steps: ClassVar[int | None] = None
    #: The detector that verifies this backbone's images unless another is named.
    default_detector: ClassVar[str] = "owlv2"

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        raise NotImplementedError

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        """Re-denoise only the masked regions (mask ``L`` images, 255 = repaint) of ``images``,
        conditioned on ``layouts``; pixels outside the masks stay exactly as they were.

        Diffusion backbones implement this with :func:`compose.diffusion.sample` (the known region
        blended back at every step); the procedural backbone redraws the region.
        """
        raise NotImplementedError(f"backbone {self.name!r} cannot repaint")

    def check_layout(self, layout: Layout) -> None:
        """Raise E402 when the layout asks for a class this backbone cannot draw."""
        if self.vocabulary is None:
            return
        for instance, region in layout.objects.items():
            if region.class_name not in self.vocabulary:
                able = [n for n in available_backbones() if n != self.name and _can_draw(n, region.class_name)]
                raise BackboneError("E402", name=self.name, what=f"'{region.class_name}' ({instance})",
                                    vocabulary=", ".join(sorted(self.vocabulary)),
                                    backbones=", ".join(able) or "none installed")


#: Backbone name -> "module:Class". Modules are imported only when a backbone is asked for.
BACKBONES: dict[str, str] = {}


def register_backbone(name: str, target: str) -> None:
    """Register a backbone class by import path (``"package.module:Class"``)."""
    BACKBONES[name] = target


def available_backbones() -> list[str]:
    return list(BACKBONES)


def backbone_class(name: str) -> type[Backbone]:
    if name not in BACKBONES:
        raise BackboneError("E401", name=name, expected=", ".join(BACKBONES))
    module, _, attr = BACKBONES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_backbone(name: str = "embedded", **options: Any) -> Backbone:
    """Instantiate the backbone registered as ``name`` with its options (device, dtype, model...)."""
    return backbone_class(name)(**options)


def _can_draw(name: str, class_name: str) -> bool:
    try:
        vocab = backbone_class(name).vocabulary
    except Exception:  # a backbone whose module cannot import cannot draw anything here
        return False
    return vocab is None or class_name in vocab


register_backbone("embedded", "compose.backbones.embedded:EmbeddedBackbone")
register_backbone("procedural", "compose.backbones.procedural:ProceduralBackbone")
register_backbone("sd-gligen", "compose.backbones.sd_gligen:SDGligenBackbone")
register_backbone("sd-regional", "compose.backbones.sd_regional:SDRegionalBackbone")
register_backbone("sdxl-regional", "compose.backbones.sdxl_regional:SDXLRegionalBackbone")
register_backbone("sd3-regional", "compose.backbones.sd3_regional:SD3RegionalBackbone")
register_backbone("flux-regional", "compose.backbones.flux_regional:FluxRegionalBackbone")
register_backbone("flux2-regional", "compose.backbones.flux2_regional:Flux2RegionalBackbone")
register_backbone("qwen-image-regional", "compose.backbones.qwen_image_regional:QwenImageRegionalBackbone")
register_backbone("sd-controlnet-seg", "compose.backbones.sd_controlnet_seg:SDControlNetSegBackbone")
