"""compose: structured, neuro-symbolic composition for image generation.

parse (program or prompt) -> Scene -> layout -> render -> verify -> repaint.

The public functions are imported lazily so that ``import compose`` stays quick; torch,
diffusers and spaCy load only when a stage that needs them runs. ``compose.verify`` is the
verification step (:func:`compose.verification.verify`); its package is ``compose.verification``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Scene": "compose.scene",
    "ObjectGroup": "compose.scene",
    "RelationStatement": "compose.scene",
    "Ref": "compose.scene",
    "Layout": "compose.layouts",
    "Region": "compose.layouts",
    "Report": "compose.verification.report",
    "Result": "compose.loop",
    "RELATIONS": "compose.relations",
    "ComposeError": "compose.errors",
    "parse_program": "compose.api",
    "load_scene": "compose.api",
    "format_scene": "compose.api",
    "parse_prompt": "compose.api",
    "parse_prompts": "compose.api",
    "layout": "compose.api",
    "render": "compose.api",
    "generate": "compose.api",
    "verify": "compose.verification",
}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604 - the lazy names are the strings above


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'compose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
