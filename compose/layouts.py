"""Layouts: one box per instance, plus what each box should show.

A :class:`Layout` is what the solver returns and what every backbone takes. Its JSON has at least
``{"canvas": [w, h], "boxes": {instance id: [x0, y0, x1, y1]}}`` with boxes normalised to 0..1,
origin top-left; ``objects`` adds each box's phrase, class, attributes and drawing order (z), and
the global prompts and seed travel with it so that a layout alone is enough to render.

Examples
--------
>>> lay = Layout(canvas=(64, 64), boxes={"a#0": (0.1, 0.1, 0.4, 0.4)})
>>> lay.pixel_box("a#0")
(6, 6, 26, 26)
>>> Layout.from_json(lay.to_json()) == lay
True
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from compose.boxes import Box
from compose.errors import UsageError


class Region(BaseModel):
    """What one box shows: the instance's phrase, class and attributes, and its z (higher is
    drawn later, in front)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    phrase: str
    class_name: str = Field(alias="class")
    attributes: dict[str, Any] = Field(default_factory=dict)
    z: int = 0


class Layout(BaseModel):
    """Boxes for a scene's instances, normalised to 0..1, origin top-left."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    canvas: tuple[int, int]
    boxes: dict[str, Box]
    objects: dict[str, Region] = Field(default_factory=dict)
    background: str | None = None
    style: str | None = None
    negative: str | None = None
    seed: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)

    def pixel_box(self, instance: str) -> tuple[int, int, int, int]:
        """The box of ``instance`` in whole pixels of the canvas."""
        x0, y0, x1, y1 = self.boxes[instance]
        w, h = self.canvas
        return round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)

    def drawing_order(self) -> list[str]:
        """Instance ids back to front: by z, then by the bottom edge (lower is nearer)."""
        return sorted(self.boxes, key=lambda i: (self.objects[i].z if i in self.objects else 0,
                                                 self.boxes[i][3]))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise UsageError("E006", argument="layout", value=str(data)[:80],
                             expected='{"canvas": [w, h], "boxes": {id: [x0, y0, x1, y1]}}') from exc

    @classmethod
    def from_json(cls, text: str) -> Layout:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UsageError("E006", argument="layout", value=text[:80],
                             expected=f"layout JSON ({exc.msg} at line {exc.lineno})") from exc
