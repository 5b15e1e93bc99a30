"""The Python API, one function per stage: parse, layout, render, verify, generate.

Each stage takes the previous stage's value and returns a new one. This module is the facade:
only ``compose/__init__.py`` and the command line import it; the stages call each other directly.
"""

from __future__ import annotations

from pathlib import Path

from compose.scene import Scene
from compose.seeds import check_seed, resolve_seed


def parse_program(text: str, file: str | None = None) -> Scene:
    """Parse and check a scene program; raises ``SceneSyntaxError`` / ``SceneSemanticError``.

    Object phrases are read by the prompt reader: what they say fills what the options leave
    unset (``object c "a red circle"`` is a red circle), and a contradiction is a warning.

    >>> scene = parse_program('object cat "a cat"\\nobject dog "a dog"\\ncat left of dog\\n')
    >>> [r.predicate for r in scene.relations()]
    ['left_of']
    """
    from compose.sources import parse_program as _parse

    return _parse(text, file=file)


def format_scene(scene: Scene) -> str:
    """The canonical program of any scene; parsing it gives back an equal scene."""
    from compose.language import format_scene as _format

    return _format(scene)


def parse_prompt(text: str) -> Scene:
    """Read an English prompt into a scene; raises ``PromptError`` (E201 empty, E202 too long).

    What cannot be understood is kept as ``scene.warnings``, never raised.

    >>> [(g.class_name, g.count) for g in parse_prompt("two cats left of a dog").objects]
    [('cat', 2), ('dog', 1)]
    """
    from compose.prompts import parse_prompt as _parse

    return _parse(text)


def parse_prompts(texts) -> list[Scene]:
    """Read many prompts at once (batched through spaCy); one scene per prompt, same order."""
    from compose.prompts import parse_prompts as _parse

    return _parse(texts)


def load_scene(path: str | Path) -> Scene:
    """Read a scene from a ``.json`` scene file or a scene program (any other extension)."""
    from compose.sources import load_scene as _load

    return _load(path)


def layout(scene: Scene, seed: int | None = None, *, fixed: dict | None = None,
           time_limit: float = 10.0, backend: str = "cp-sat"):
    """Boxes for every instance of ``scene``: a :class:`~compose.layouts.Layout`.

    ``seed`` (default: the scene's seed, else 0) picks ranged counts and the arrangement; the
    same seed gives the same layout, and is recorded in ``Layout.seed``. ``fixed`` holds
    instance boxes ``{instance id: (x0, y0, x1, y1)}`` (normalised) in place and places the rest,
    as repainting needs. Raises ``InfeasibleLayoutError`` (E301) naming the smallest set of
    statements found that cannot hold together, each with its line (or prompt words), and
    ``LayoutError`` E302 when ``time_limit`` seconds pass without a layout.

    >>> scene = parse_program('object cat "a cat"\\nobject dog "a dog"\\ncat left of dog\\n')
    >>> lay = layout(scene, seed=1)
    >>> lay.boxes["cat#0"][2] < lay.boxes["dog#0"][0], lay.seed
    (True, 1)
    """
    from compose.placement import place

    return place(scene, seed, fixed=fixed, time_limit=time_limit, backend=backend)


def verify(scene: Scene, image, *, layout=None, detector=None, **options):
    """Check an image against a scene; returns a :class:`~compose.verification.report.Report`.

    ``image`` is a PIL image, a path or an array; ``layout`` (a :class:`~compose.layouts.Layout`)
    binds instances to detections by box; ``detector`` is a registered name or a detector
    (default: the embedded world's for scenes of shapes, OWLv2 otherwise). ``report.passed`` is
    whether every hard check passed; ``report.raise_for_failure()`` raises E501.
    """
    from compose.verification import verify as _verify

    return _verify(scene, image, layout=layout, detector=detector, **options)


def render(scene_or_layout, backbone="embedded", *, seed: int | None = None, steps: int | None = None,
           guidance: float | None = None, **options):
    """Render scenes or layouts with a backbone; returns a
    :class:`~compose.backbones.base.RenderResult` (``.images`` in input order).

    ``scene_or_layout`` is a :class:`Scene`, a :class:`~compose.layouts.Layout` or a list of
    them (one batch). Scenes are laid out with :func:`layout` using the same seed, so the
    layout is the one ``compose layout --seed`` gives. Item ``i`` of a batch uses seed
    ``seed + i`` (default: the scene's or layout's own seed, else 0). ``backbone`` is a
    registered name (``"embedded"``, ``"procedural"``, ...) or a backbone instance; ``options``
    go to its constructor.
    """
    from compose.backbones.base import Backbone, get_backbone
    from compose.layouts import Layout

    items = list(scene_or_layout) if isinstance(scene_or_layout, (list, tuple)) else [scene_or_layout]
    layouts, seeds = [], []
    for i, item in enumerate(items):
        own = item.seed if isinstance(item, (Scene, Layout)) else None
        item_seed = resolve_seed(None if seed is None else check_seed(seed) + i, own, default=i)
        if isinstance(item, Scene):
            item = layout(item, seed=item_seed)
        elif not isinstance(item, Layout):
            from compose.errors import UsageError

            raise UsageError("E006", argument=f"scene_or_layout[{i}]", value=type(item).__name__,
                             expected="a Scene or a Layout")
        layouts.append(item)
        seeds.append(int(item_seed))
    engine = backbone if isinstance(backbone, Backbone) else get_backbone(backbone, **options)
    return engine.render(layouts, seeds=seeds, steps=steps, guidance=guidance)


def generate(scene_or_prompt, *, backbone: str = "embedded", seed: int | None = None, max_rounds: int = 3,
             **options):
    """The main job: parse -> layout -> render -> verify -> repaint until every hard check passes
    or ``max_rounds`` repaints are spent; returns a :class:`~compose.loop.Result` (``passed``,
    ``image``, ``layout``, ``report``, every round). See :func:`compose.loop.generate` for the
    options (steps, guidance, detector, backbone_options, out_dir, progress)."""
    from compose.loop import generate as _generate

    return _generate(scene_or_prompt, backbone=backbone, seed=seed, max_rounds=max_rounds, **options)
