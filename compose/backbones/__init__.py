"""Backbones: renderers of layouts, one self-contained module each, registered by name.

Heavy imports (torch, diffusers, transformers) stay inside each backbone's module; this package
only knows names and import paths, so ``import compose`` stays fast.
"""

from compose.backbones.base import (  # noqa: F401
    BACKBONES,
    Backbone,
    RenderResult,
    available_backbones,
    get_backbone,
    register_backbone,
)
