"""The main job: a scene (program, prompt or Scene) in, a verified image out.

:func:`generate` runs parse -> layout -> render -> verify, then, while hard checks fail and rounds
remain, repaint -> verify. It keeps the best round by check score and stops as soon as every hard
check passes. :func:`best_of_n` is the baseline: N seeds, no repaint, keep the best.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout
    from compose.scene import Scene

from compose.seeds import resolve_seed
from compose.sources import as_scene

#: Rounds of repaint after the first render, unless asked otherwise.
DEFAULT_MAX_ROUNDS = 3

@dataclass
class Round:
    """One image of the loop: round 0 is the first render, later rounds are repaints."""

    index: int
    image: Image.Image
    layout: Layout
    report: Any
    seed: int
    seconds: dict[str, float]
    plan: Any = None

    @property
    def score(self) -> tuple[int, float]:
        return report_score(self.report)


@dataclass
class Result:
    """What :func:`generate` returns: the final (best) image, its layout and report, every round."""

    scene: Scene
    image: Image.Image
    layout: Layout
    report: Any
    rounds: list[Round]
    best: int
    seed: int
    backbone: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.report.passed)

    def record(self) -> dict[str, Any]:
        """The run record: versions, seeds, timings per stage, and each round's outcome."""
        return {
            "passed": self.passed, "backbone": self.backbone, "seed": self.seed, "best_round": self.best,
            "rounds": [{"round": r.index, "seed": r.seed, "passed": bool(r.report.passed),
                        "hard_passed": r.score[0], "score": round(r.score[1], 4), "seconds": r.seconds,
                        **({"repaint": r.plan.to_dict()} if r.plan is not None else {})} for r in self.rounds],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "versions": versions(),
        }


def report_score(report) -> tuple[int, float]:
    """Rank of a report: hard checks passed, then their mean score (higher is better)."""
    hard = [c for c in report.checks if c.hard]
    if not hard:
        return 0, 1.0
    return sum(bool(c.passed) for c in hard), sum(float(c.score) for c in hard) / len(hard)


def versions() -> dict[str, str]:
    from importlib import metadata

    from compose import __version__

    out = {"compose": __version__, "python": platform.python_version()}
    for package in ("torch", "diffusers", "ortools", "spacy", "lark", "pydantic"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def generate(scene_or_prompt, *, backbone: str = "embedded", seed: int | None = None,
             max_rounds: int = DEFAULT_MAX_ROUNDS, steps: int | None = None, guidance: float | None = None,
             detector: str | None = None, backbone_options: dict[str, Any] | None = None,
             out_dir: str | Path | None = None,
             progress: Callable[[str], None] | None = None) -> Result:
    """Generate a verified image for a scene.

    Parameters
    ----------
    scene_or_prompt : Scene, pathlib.Path or str
        A scene, a scene file, or a prompt.
    backbone : str or Backbone
        A registered backbone name (default: the embedded model, which runs on a CPU), or a
        backbone instance, already loaded, to reuse across calls (batch workers do).
    seed : int, optional
        Seeds the layout and the render (default: the scene's seed, else 0); round ``k`` repaints
        with ``seed + k``. Recorded in the result.
    max_rounds : int
        Repaint rounds after the first render (0 = layout and render only).
    steps, guidance : optional
        Passed to the backbone (its defaults otherwise).
    detector : str, optional
        The verifier's detector (default: the backbone's ``default_detector``: the embedded
        world's for the embedded and procedural backbones, OWLv2 otherwise).
    backbone_options : dict, optional
        Constructor options for the backbone (model, device, dtype...).
    out_dir : path, optional
        Write the outputs there (see :func:`write_outputs`).
    progress : callable, optional
        Called with a line of text as each stage starts.
    """
    from compose.placement import place as solve_layout
    from compose.verification import verify
    from compose.backbones import get_backbone
    from compose.errors import UsageError
    from compose.repaint import plan_repaint, region_mask

    if max_rounds < 0:
        raise UsageError("E006", argument="max_rounds", value=max_rounds, expected="0 or more")
    say = progress or (lambda line: None)
    timings: dict[str, float] = {}

    def timed(stage: str, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
        return value, time.perf_counter() - start

    # 1. parse
    say("parse")
    scene, _ = timed("parse", as_scene, scene_or_prompt)
    seed = resolve_seed(seed, scene.seed)
    # 2. layout
    say("layout")
    layout, t_layout = timed("layout", solve_layout, scene, seed=seed)
    # 3. render
    from compose.backbones.base import Backbone

    if isinstance(backbone, Backbone):
        model, backbone = backbone, backbone.name
    else:
        model = None
    say(f"render ({backbone})")
    if model is None:
        model, _ = timed("load backbone", get_backbone, backbone, **(backbone_options or {}))
    model.check_layout(layout)
    rendered, t_render = timed("render", model.render, [layout], seeds=[seed], steps=steps, guidance=guidance)
    image = rendered.images[0]
    detector = detector or model.default_detector
    # 4. verify
    say("verify")
    report, t_verify = timed("verify", verify, scene, image, layout=layout, detector=detector)
    rounds = [Round(0, image, layout, report, seed, {"layout": t_layout, "render": t_render, "verify": t_verify})]
    best = 0
    # 5. repaint while hard checks fail and rounds remain
    for k in range(1, max_rounds + 1):
        current = rounds[best]
        if current.report.passed:
            break
        plan, t_plan = timed("plan", plan_repaint, scene, current.layout, current.report, seed=seed + k)
        if plan is None:
            break
        say(f"repaint round {k}: {len(plan.regions)} region(s)")
        mask = region_mask([r.box for r in plan.regions], current.image.size)
        repainted, t_repaint = timed("repaint", model.repaint, [current.image], [mask], [plan.layout],
                                     seeds=[seed + k], steps=steps, guidance=guidance)
        say(f"verify round {k}")
        new_report, t_verify = timed("verify", verify, scene, repainted.images[0], layout=plan.layout,
                                     detector=detector)
        rounds.append(Round(k, repainted.images[0], plan.layout, new_report, seed + k,
                            {"plan": t_plan, "repaint": t_repaint, "verify": t_verify}, plan))
        if rounds[-1].score > rounds[best].score:
            best = k
    chosen = rounds[best]
    result = Result(scene=scene, image=chosen.image, layout=chosen.layout, report=chosen.report,
                    rounds=rounds, best=best, seed=seed, backbone=backbone, timings=timings)
    if out_dir is not None:
        say(f"write {out_dir}")
        write_outputs(result, Path(out_dir))
    return result


def best_of_n(scene_or_prompt, n: int = 4, *, backbone: str = "embedded", seed: int | None = None,
              steps: int | None = None, detector: str | None = None,
              backbone_options: dict[str, Any] | None = None) -> Result:
    """The baseline: ``n`` seeds (each its own layout and render), no repaint, keep the best."""
    scene = as_scene(scene_or_prompt)
    base = resolve_seed(seed, scene.seed)
    results = []
    for i in range(n):
        result = generate(scene, backbone=backbone, seed=base + 1000 * i, max_rounds=0, steps=steps,
                          detector=detector, backbone_options=backbone_options)
        results.append(result)
        if result.passed:
            break
    best = max(range(len(results)), key=lambda i: report_score(results[i].report))
    chosen = results[best]
    timings: dict[str, float] = {}
    for r in results:
        for stage, seconds in r.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    rounds = [Round(i, r.image, r.layout, r.report, r.seed, r.rounds[0].seconds) for i, r in enumerate(results)]
    return Result(scene=scene, image=chosen.image, layout=chosen.layout, report=chosen.report, rounds=rounds,
                  best=best, seed=chosen.seed, backbone=backbone, timings=timings)


def write_outputs(result: Result, out_dir: Path) -> None:
    """Write ``image.png`` (the final image), ``round-K.png`` for every round, ``scene.scene``,
    ``layout.json``, ``report.json``, ``report.html`` and ``run.json`` into ``out_dir``, each
    file atomically (a reader never sees half a file)."""
    from compose.io import write_png_atomic, write_text_atomic
    from compose.language import format_scene

    out_dir.mkdir(parents=True, exist_ok=True)
    for r in result.rounds:
        write_png_atomic(r.image, out_dir / f"round-{r.index}.png")
    write_png_atomic(result.image, out_dir / "image.png")
    write_text_atomic(out_dir / "scene.scene", format_scene(result.scene))
    write_text_atomic(out_dir / "layout.json", result.layout.to_json() + "\n")
    write_text_atomic(out_dir / "report.json", json.dumps(result.report.to_dict(), indent=2) + "\n")
    write_text_atomic(out_dir / "run.json", json.dumps(result.record(), indent=2) + "\n")
    write_text_atomic(out_dir / "report.html",
                 result.report.to_html(result.image, title=f"compose generate: {result.scene.prompt or 'scene'}"))
