"""The main job: a scene (program, prompt or Scene) in, a verified image out.

:func:`generate` runs parse -> layout -> render -> verify, then, while hard checks fail and rounds
remain, repaint -> verify. It keeps the best round by check score and stops as soon as every hard
check passes. :func:`best_of_n` is the baseline: N seeds, no repaint, keep the best.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    strategy: dict[str, Any] = field(default_factory=dict)
    cost: Any = None
    mask: Any = None

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
    source: str | None = None
    mode: str = "loop"
    weights: dict[str, str] | None = None  # the weights file the render used and its sha256
    stopped: str | None = None  # why repair stopped before passing: "budget", "time limit", "rounds"

    @property
    def cost(self):
        """Total compute of every round (:class:`compose.repair.compute.Cost`)."""
        from compose.repair.compute import Cost

        total = Cost()
        for r in self.rounds:
            total = total + (r.cost or Cost())
        return total

    @property
    def passed(self) -> bool:
        return bool(self.report.passed)

    def record(self) -> dict[str, Any]:
        """The run record: versions, seeds, timings per stage, and each round's outcome."""
        return {
            "passed": self.passed, "backbone": self.backbone, "seed": self.seed, "best_round": self.best,
            "rounds": [{"round": r.index, "seed": r.seed, "passed": bool(r.report.passed),
                        "hard_passed": r.score[0], "score": round(r.score[1], 4), "seconds": r.seconds,
                        **({"strategy": r.strategy} if r.strategy else {}),
                        **({"cost": r.cost.to_dict()} if r.cost is not None else {}),
                        **({"repaint": r.plan.to_dict()} if r.plan is not None else {})} for r in self.rounds],
            "mode": self.mode, "cost": self.cost.to_dict(),
            **({"stopped": self.stopped} if self.stopped else {}),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            **({"weights": self.weights} if self.weights else {}),
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


#: Crop windows a zoomed-repaint round repaints at most (each costs one render); regions left
#: over wait for the next round.
MAX_WINDOWS = 2

#: A layout whose smallest box is under this many pixels at the backbone's native size is worked
#: on at twice that size: round 0 is upscaled and zoomed repaints add the detail.
SMALL_OBJECT_PX = 16


def working_scale(layout: Layout, native: tuple[int, int]) -> int:
    """2 when the layout's smallest box would be drawn under :data:`SMALL_OBJECT_PX` pixels at
    ``native`` (and ``native`` is at most 512), else 1."""
    if not layout.boxes or max(native) > 512:
        return 1
    smallest = min(min((x1 - x0) * native[0], (y1 - y0) * native[1]) for x0, y0, x1, y1 in layout.boxes.values())
    return 2 if smallest < SMALL_OBJECT_PX else 1


def generate(scene_or_prompt, *, backbone: str = "embedded", seed: int | None = None,
             max_rounds: int = DEFAULT_MAX_ROUNDS, steps: int | None = None, guidance: float | None = None,
             detector: str | None = None, backbone_options: dict[str, Any] | None = None,
             out_dir: str | Path | None = None, scale: int | None = None,
             budget: float | None = None, source: str | None = None, layered: bool | None = None,
             time_limit: float | None = None, progress: Callable[[str], None] | None = None) -> Result:
    """Generate a verified image for a scene.

    Parameters
    ----------
    scene_or_prompt : Scene, pathlib.Path or str
        A scene, a scene file, or a prompt.
    backbone : str or Backbone
        A registered backbone name (default: the embedded model, which runs on a CPU), or a
        backbone instance, already loaded, to reuse across calls (batch workers do).
    seed : int, optional
        Seeds the layout and the render (default: the scene's seed, else 0); repair rounds and
        fresh layouts derive their seeds from it. Recorded in the result.
    max_rounds : int
        Repair rounds after the first render (0 = layout and render only). Each round's strategy
        comes from :func:`compose.repair.policy.choose_step`.
    steps, guidance : optional
        Passed to the backbone (its defaults otherwise).
    detector : str, optional
        The verifier's detector (default: the backbone's ``default_detector``: the embedded
        world's for the embedded and procedural backbones, OWLv2 otherwise).
    backbone_options : dict, optional
        Constructor options for the backbone (model, device, dtype...).
    out_dir : path, optional
        Write the outputs there (see :func:`write_outputs`).
    scale : int, optional
        Working size over the backbone's native size (default: :func:`working_scale`): at 2, round
        0 is upscaled and zoomed repaints draw the failing regions at full detail.
    budget : float, optional
        Stop repairing once this many renders' worth of compute is spent (see
        :mod:`compose.repair.compute`).
    source : str, optional
        The scene file or prompt, for the report's title.
    layered : bool, optional
        Repair missing and misdrawn instances by layers (:mod:`compose.repair.layer`: each drawn
        alone, composited in z-order), the first choice; ``None`` (default) uses it when the
        detector gives masks of what it finds, ``False`` keeps to zoomed repaints.
    time_limit : float, optional
        Seconds of wall time for the whole run: once they have passed, no further repair round
        starts (a round under way finishes), and the best image so far is the result, with
        ``stopped="time limit"`` in ``run.json``. The layout and the first render always run.
    progress : callable, optional
        Called with a line of text as each stage starts.
    """
    from PIL import Image as PILImage

    from compose.backbones import get_backbone
    from compose.errors import UsageError
    from compose.limits import check_run_options
    from compose.placement import place as solve_layout
    from compose.repaint import plan_repaint, region_mask
    from compose.repair import choose_step, render_cost, replace_instances, zoomed_repaint
    from compose.repair.policy import plan_keys
    from compose.verification import verify

    if max_rounds < 0:
        raise UsageError("E006", argument="max_rounds", value=max_rounds, expected="0 or more")
    check_run_options(time_limit=time_limit, prefix="")
    started = time.perf_counter()
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
    if source is None and isinstance(scene_or_prompt, (str, Path)):
        source = str(scene_or_prompt)
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
    detector = detector or model.default_detector

    used_weights: dict[str, str] = {}

    def first_render(lay, render_seed):
        rendered, t_render = timed("render", model.render, [lay], seeds=[render_seed], steps=steps,
                                   guidance=guidance)
        info = rendered.info or {}
        if "weights_sha256" in info:
            used_weights.update(file=str(info["weights"]), sha256=str(info["weights_sha256"]))
        native = rendered.images[0].size
        return rendered.images[0], native, t_render, render_cost(model, 1, steps=steps, guidance=guidance,
                                                                  seconds=t_render)

    def at_working_size(img, lay):
        """``img`` at the working size ``lay``'s boxes call for (``scale`` when given), and that
        factor: round 0, and each fresh layout as best-of-N would draw it."""
        f = scale if scale is not None else working_scale(lay, native)
        size = (native[0] * f, native[1] * f)
        return (img if img.size == size else img.resize(size, PILImage.BICUBIC)), f

    image, native, t_render, cost = first_render(layout, seed)
    image, factor = at_working_size(image, layout)
    # 4. verify
    say("verify")
    report, t_verify = timed("verify", verify, scene, image, layout=layout, detector=detector)
    rounds = [Round(0, image, layout, report, seed, {"layout": t_layout, "render": t_render, "verify": t_verify},
                    strategy={"strategy": "render", "scale": factor}, cost=cost)]
    best = 0
    spent = cost
    # layered repair needs the detector's masks of what it found
    if layered is None:
        layered = all(d.mask is not None for d in report.detections)
    attempts: dict[str, int] = {}
    stagnant = fresh = 0
    stopped = None
    # 5. repair while hard checks fail and rounds (and budget, and time) remain
    for k in range(1, max_rounds + 1):
        current = rounds[best]
        if current.report.passed:
            break
        if budget is not None and spent.renders >= budget - 1e-9:
            stopped = "budget"
            break
        if time_limit is not None and time.perf_counter() - started >= time_limit:
            stopped = "time limit"
            say(f"time limit of {time_limit:g} s reached: keeping the best of {len(rounds)} round(s)")
            break
        round_seed = seed + 7919 * k
        plan, t_plan = timed("plan", plan_repaint, scene, current.layout, current.report, seed=round_seed)
        step = choose_step(plan, attempts, stagnant, layered=layered)
        if step.name == "replace":
            moved = replace_instances(scene, current.layout, step.move, seed=round_seed, report=current.report)
            if moved is None:
                step = type(step)("fresh")
            else:  # the rest of the plan goes on in place
                keep = [r for r in plan.regions if r.instance not in step.move]
                moved.regions = keep + moved.regions
                moved.moved = {**plan.moved, **moved.moved}
                boxes = dict(plan.layout.boxes)
                boxes.update(moved.moved)
                moved.layout = plan.layout.model_copy(update={"boxes": boxes})
                plan = moved
        if step.name == "fresh":
            # the n-th fresh layout is best-of-N's n-th candidate (same seed, layout and render)
            fresh += 1
            fresh_seed = seed + 1000 * fresh
            say(f"round {k}: fresh layout (seed {fresh_seed})")
            lay, t_l = timed("layout", solve_layout, scene, seed=fresh_seed)
            img, _, t_r, c = first_render(lay, fresh_seed)
            img, f = at_working_size(img, lay)
            new_report, t_v = timed("verify", verify, scene, img, layout=lay, detector=detector)
            rounds.append(Round(k, img, lay, new_report, fresh_seed, {"layout": t_l, "render": t_r, "verify": t_v},
                                strategy={**step.to_dict(), "scale": f}, cost=c))
            previous_attempts, attempts = attempts, {}
        else:
            for key in plan_keys(plan):
                attempts[key] = attempts.get(key, 0) + 1
            r_steps = None
            base_steps = steps or getattr(model, "steps", None) or getattr(model, "default_steps", None)
            if step.steps_factor != 1.0 and base_steps:
                r_steps = max(1, round(base_steps * step.steps_factor))
            r_guidance = guidance
            if step.guidance_factor != 1.0:
                g = guidance if guidance is not None else getattr(model, "guidance", None)
                r_guidance = None if g is None else float(g) * step.guidance_factor
            say(f"round {k}: {step.name}, {len(plan.regions)} region(s)")
            boxes = [r.box for r in plan.regions]
            if step.name == "layer":  # the layered chain (choose_step gives it only with masks)
                from compose.repair.layer import layered_repaint, sprite_settings
                from compose.verification.detection import Detector, get_detector

                targets = list(dict.fromkeys(r.instance for r in plan.regions if r.instance is not None))
                clear = [r.box for r in plan.regions if r.instance is None]
                finder = detector if isinstance(detector, Detector) else get_detector(detector)
                s_steps, s_guidance = sprite_settings(model, steps, guidance)
                (img, mask, info), t_r = timed("repaint", layered_repaint, model, current.image, plan.layout,
                                               targets, current.report, native=native, seed=round_seed,
                                               detector=finder, clear=clear, steps=s_steps, guidance=s_guidance)
                c = render_cost(model, info["sheets"], steps=s_steps, guidance=s_guidance, seconds=t_r)
                done = {"layered": True, "drawn": info["drawn"], "missed": info["missed"],
                        "sprite_steps": s_steps}
            else:
                mask = region_mask(boxes, current.image.size)
                (img, info), t_r = timed("repaint", zoomed_repaint, model, current.image, mask, plan.layout, boxes,
                                         native=native, seed=round_seed, steps=r_steps or steps,
                                         guidance=r_guidance, limit=MAX_WINDOWS)
                c = render_cost(model, info["images"], steps=r_steps or steps, guidance=r_guidance, seconds=t_r)
                done = {"windows": info["windows"]}
            new_report, t_v = timed("verify", verify, scene, img, layout=plan.layout, detector=detector)
            rounds.append(Round(k, img, plan.layout, new_report, round_seed,
                                {"plan": t_plan, "repaint": t_r, "verify": t_v}, plan,
                                strategy={**step.to_dict(), **done}, cost=c, mask=mask))
        spent = spent + rounds[-1].cost
        if rounds[-1].score > rounds[best].score:
            best, stagnant = k, 0
        else:
            stagnant += 1
            if step.name == "fresh":  # the old image stays the one to repair, with its history
                attempts = previous_attempts
    chosen = rounds[best]
    if stopped is None and not chosen.report.passed and max_rounds > 0:
        stopped = "rounds"
    result = Result(scene=scene, image=chosen.image, layout=chosen.layout, report=chosen.report,
                    rounds=rounds, best=best, seed=seed, backbone=backbone, timings=timings, source=source,
                    weights=used_weights or None, stopped=stopped)
    if out_dir is not None:
        say(f"write {out_dir}")
        write_outputs(result, Path(out_dir))
    return result


def best_of_n(scene_or_prompt, n: int = 4, *, backbone: str = "embedded", seed: int | None = None,
              steps: int | None = None, guidance: float | None = None, detector: str | None = None,
              backbone_options: dict[str, Any] | None = None, out_dir: str | Path | None = None,
              scale: int | None = None, source: str | None = None,
              progress: Callable[[str], None] | None = None) -> Result:
    """The baseline: ``n`` seeds (each its own layout and render), no repaint, keep the best
    (stopping at the first that passes). Candidate ``i`` uses seed ``seed + 1000 * i``, as the
    loop's fresh layouts do."""
    from compose.backbones import get_backbone
    from compose.backbones.base import Backbone

    scene = as_scene(scene_or_prompt)
    if source is None and isinstance(scene_or_prompt, (str, Path)):
        source = str(scene_or_prompt)
    base = resolve_seed(seed, scene.seed)
    model = backbone if isinstance(backbone, Backbone) else get_backbone(backbone, **(backbone_options or {}))
    results = []
    for i in range(n):
        if progress:
            progress(f"candidate {i + 1}/{n}")
        result = generate(scene, backbone=model, seed=base + 1000 * i, max_rounds=0, steps=steps,
                          guidance=guidance, detector=detector, scale=scale)
        results.append(result)
        if result.passed:
            break
    best = max(range(len(results)), key=lambda i: report_score(results[i].report))
    chosen = results[best]
    timings: dict[str, float] = {}
    for r in results:
        for stage, seconds in r.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    rounds = [Round(i, r.image, r.layout, r.report, r.seed, r.rounds[0].seconds,
                    strategy={"strategy": "candidate", "scale": r.rounds[0].strategy.get("scale", 1)},
                    cost=r.rounds[0].cost) for i, r in enumerate(results)]
    out = Result(scene=scene, image=chosen.image, layout=chosen.layout, report=chosen.report, rounds=rounds,
                 best=best, seed=chosen.seed, backbone=model.name, timings=timings, source=source,
                 mode=f"best-of-{n}")
    if out_dir is not None:
        write_outputs(out, Path(out_dir))
    return out


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
    from compose.run_report import run_report_html

    write_text_atomic(out_dir / "report.html", run_report_html(result))
