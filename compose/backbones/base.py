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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from compose.errors import BackboneError
from compose.registry import Registry

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

        Diffusion backbones implement this with :func:`compose.backbones.sampling.sample` (the known region
        blended back at every step); the procedural backbone redraws the region.
        """
        raise NotImplementedError(f"backbone {self.name!r} cannot repaint")

    def check_inputs(self, layouts: list[Layout], seeds: list[int], steps: int | None,
                     guidance: float | None, *, images: list[Image.Image] | None = None,
                     masks: list[Image.Image] | None = None) -> None:
        """The one entry point for input checks of :meth:`render` (no ``images``/``masks``) and
        :meth:`repaint`: concise E406 errors naming the argument. Backbones add their own rules
        by overriding it (calling this first)."""
        if images is None and masks is None:
            check_render_inputs(self.name, layouts, seeds, steps, guidance)
        else:
            check_repaint_inputs(self.name, list(images or []), list(masks or []), layouts, seeds,
                                 steps, guidance)

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


# --------------------------------------------------------------------------- the shared checks

def check_render_inputs(name: str, layouts: list, seeds: list[int], steps: int | None,
                        guidance: float | None) -> None:
    """Concise E406 errors naming the argument."""
    from compose.layouts import Layout

    if not isinstance(layouts, (list, tuple)) or not layouts:
        raise BackboneError("E406", argument="layouts", value=layouts, name=name,
                            expected="expected a non-empty list of Layout")
    for i, lay in enumerate(layouts):
        if not isinstance(lay, Layout):
            raise BackboneError("E406", argument=f"layouts[{i}]", value=type(lay).__name__,
                                name=name, expected="expected a Layout")
        for instance, (x0, y0, x1, y1) in lay.boxes.items():
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise BackboneError("E406", argument=f"layouts[{i}].boxes[{instance!r}]",
                                    value=(x0, y0, x1, y1), name=name,
                                    expected="expected 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    if len(seeds) != len(layouts):
        raise BackboneError("E406", argument="seeds", value=list(seeds), name=name,
                            expected=f"expected one seed per layout ({len(layouts)})")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise BackboneError("E406", argument="steps", value=steps, name=name,
                            expected="expected an integer >= 1")
    if guidance is not None and not (isinstance(guidance, (int, float)) and guidance >= 0):
        raise BackboneError("E406", argument="guidance", value=guidance, name=name,
                            expected="expected a number >= 0")


def check_repaint_inputs(name: str, images: list, masks: list, layouts: list,
                         seeds: list[int], steps: int | None, guidance: float | None) -> None:
    check_render_inputs(name, layouts, seeds, steps, guidance)
    for argument, values in (("images", images), ("masks", masks)):
        if len(values) != len(layouts):
            raise BackboneError("E406", argument=argument, value=f"{len(values)} items", name=name,
                                expected=f"expected one per layout ({len(layouts)})")
    for i, (image, mask) in enumerate(zip(images, masks)):
        if image.size != mask.size:
            raise BackboneError("E406", argument=f"masks[{i}]", value=mask.size, name=name,
                                expected=f"expected the size of images[{i}], {image.size}")


def check_strength(name: str, strength: float) -> None:
    if strength != 1.0:
        raise BackboneError("E406", argument="strength", value=strength, name=name,
                            expected="expected 1.0 (masked regions are regenerated from pure noise)")


def paste_outside(original: Image.Image, repainted: Image.Image, mask: Image.Image) -> Image.Image:
    """``repainted`` inside the mask (255), ``original`` exactly everywhere else."""
    from PIL import Image

    repainted = repainted.convert(original.mode).resize(original.size, Image.BICUBIC)
    binary = mask.convert("L").point(lambda v: 255 if v > 127 else 0)
    return Image.composite(repainted, original, binary)


# --------------------------------------------------------------------------- the registry

#: Backbone name -> "module:Class". Modules are imported only when a backbone is asked for.
BACKBONES = Registry("backbone", BackboneError, "E401")


def register_backbone(name: str, target: str) -> None:
    """Register a backbone class by import path (``"package.module:Class"``)."""
    BACKBONES.register(name, target)


def available_backbones() -> list[str]:
    return BACKBONES.names()


def backbone_class(name: str) -> type[Backbone]:
    """The class registered as ``name``; E401 for an unknown name."""
    return BACKBONES.get(name)


def get_backbone(name: str = "embedded", **options: Any) -> Backbone:
    """Instantiate the backbone registered as ``name`` with its options (device, dtype, model...)."""
    return backbone_class(name)(**options)


def _can_draw(name: str, class_name: str) -> bool:
    try:
        vocab = backbone_class(name).vocabulary
    except Exception:  # noqa: BLE001 - a backbone whose module cannot import cannot draw anything here
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
