"""Verification benchmark: the world detector against ground truth, GenEval's rule, throughput.

Run: python benchmarks/bench_verify.py [--renders 500] [--repeat 3] [--engines-only --images 120 --workers 1 2]
Targets: >= 99% counts, shapes, colors and boxes (IoU >= 0.5) on 500 renders of 1-6 separated
shapes; 100% agreement of the position predicates with GenEval's rule; >= 100 images/s verified
on CPU with the world detector.

Rows:

* separated: ``separated_layouts(N)`` (shapes apart, the solver's default for distinct objects),
  rendered at 64 x 64 by the procedural renderer; counts (renders whose number of detections is
  the number of visible objects), recall (objects matched at box IoU >= 0.5), shapes and colors
  (of matched objects), mean IoU;
* held-out: the world's own held-out layouts (``heldout_layouts(N)``), which also put shapes
  inside, in front of and behind each other;
* noisy: the separated renders with Gaussian pixel noise (sigma 8);
* blur .8+noise 8+drift: softened like a diffusion sample (Gaussian blur 0.8 px, noise sigma 8,
  a global color drift up to 15 levels a channel);
* GenEval's rule: ``RELATIONS[...]`` predicates against ``geneval_relations`` on 200,000 random
  box pairs;
* self-pass: ``random_scene`` scenes laid out by the solver, rendered exactly and verified
  against themselves (the ceiling of the world's pass rate before any model is involved);
* throughput: ``compose.verification.verify`` (detect, colors, bind, every check) on the separated
  renders against their own scenes, images/s, median over repeats (the detector alone too);
* engines: ``verify-batch`` (:func:`compose.batch.verify.verify_batch`) over a GenEval folder of
  world renders, per engine (``local``, ``ray``) and worker count, images/s from the run's own
  clock (start-up included: workers spawn and load their detector), with compose's checks and with
  GenEval's protocol on a COCO detections file (no model).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def accuracy_rows(renders: int) -> list[tuple[str, dict]]:
    from PIL import Image

    from compose.verification.detectors.world import WorldDetector
    from compose.verification.evaluation import (
        evaluate_world_detector,
        score_detections,
        separated_layouts,
    )
    from compose.world.dataset import heldout_layouts
    from compose.world.draw import render_layout

    detector = WorldDetector()
    rows = [("separated", evaluate_world_detector(detector, separated_layouts(renders, seed=2026))),
            ("held-out (overlaps)", evaluate_world_detector(detector, heldout_layouts(renders)))]
    rng = np.random.default_rng(0)
    scores = []
    for layout in separated_layouts(renders, seed=2026):
        rendered = render_layout(layout)
        noisy = np.asarray(rendered.image).astype(np.float32) + rng.normal(0, 8, (64, 64, 3))
        scores.append(score_detections(detector.detect(Image.fromarray(noisy.clip(0, 255).astype(np.uint8))), rendered))
    matched = sum(s.matched for s in scores)
    rows.append(("separated + noise 8", {
        "renders": len(scores), "objects": sum(s.expected for s in scores),
        "count_accuracy": sum(s.count_right for s in scores) / len(scores),
        "recall": matched / max(1, sum(s.expected for s in scores)),
        "shape_accuracy": sum(s.shapes_right for s in scores) / max(matched, 1),
        "color_accuracy": sum(s.colors_right for s in scores) / max(matched, 1),
        "mean_iou": float(np.mean([v for s in scores for v in s.ious]))}))
    from PIL import ImageFilter

    scores = []
    for layout in separated_layouts(renders, seed=2026):
        rendered = render_layout(layout)
        soft = rendered.image.filter(ImageFilter.GaussianBlur(0.8))
        pixels = np.asarray(soft).astype(np.float32) + rng.normal(0, 8, (64, 64, 3)) + rng.uniform(-15, 15, 3)
        scores.append(score_detections(detector.detect(Image.fromarray(pixels.clip(0, 255).astype(np.uint8))), rendered))
    matched = sum(s.matched for s in scores)
    rows.append(("blur .8+noise 8+drift", {
        "renders": len(scores), "objects": sum(s.expected for s in scores),
        "count_accuracy": sum(s.count_right for s in scores) / len(scores),
        "recall": matched / max(1, sum(s.expected for s in scores)),
        "shape_accuracy": sum(s.shapes_right for s in scores) / max(matched, 1),
        "color_accuracy": sum(s.colors_right for s in scores) / max(matched, 1),
        "mean_iou": float(np.mean([v for s in scores for v in s.ious]))}))
    return rows


def geneval_agreement(pairs: int = 200_000) -> tuple[int, int]:
    from compose.relations import GENEVAL_POSITIONS, RELATIONS, geneval_relations

    rng = np.random.default_rng(7)
    origins = rng.uniform(0, 0.8, (pairs, 2, 2))
    sizes = rng.uniform(0.01, 0.4, (pairs, 2, 2))
    agree = total = 0
    for o, s in zip(origins, sizes):
        a = (o[0, 0], o[0, 1], o[0, 0] + s[0, 0], o[0, 1] + s[0, 1])
        b = (o[1, 0], o[1, 1], o[1, 0] + s[1, 0], o[1, 1] + s[1, 1])
        truth = geneval_relations(a, b)
        for words, name in GENEVAL_POSITIONS.items():
            total += 1
            agree += RELATIONS[name].check(a, [b]).passed == (words in truth)
    return agree, total


def self_pass(scenes: int) -> tuple[int, int, dict]:
    """Random world scenes laid out by the solver, rendered exactly, verified against themselves."""
    from collections import Counter

    from compose.api import layout
    from compose.errors import ComposeError
    from compose.verification import verify
    from compose.verification.detectors.world import WorldDetector
    from compose.world.dataset import random_scene
    from compose.world.draw import render_layout

    detector = WorldDetector()
    passed = total = 0
    failing: Counter = Counter()
    for seed in range(scenes):
        scene = random_scene(seed, objects=(1, 6))
        try:
            lay = layout(scene, seed=seed, time_limit=5)
        except ComposeError:
            continue
        report = verify(scene, render_layout(lay).image, layout=lay, detector=detector)
        total += 1
        passed += report.passed
        for check in report.failed:
            failing[check.predicate or check.kind] += 1
    return passed, total, dict(failing.most_common())


def scene_of(layout):
    """The scene a layout of the world draws: one group per instance, with shape and color."""
    from compose.scene import ObjectGroup, Scene

    groups = [ObjectGroup(name=inst.split("#")[0], phrase=region.phrase, color=region.attributes["color"],
                          **{"class": region.class_name}) for inst, region in layout.objects.items()]
    return Scene(objects=groups)


def throughput(renders: int, repeat: int) -> tuple[float, float, float]:
    from compose.verification import verify
    from compose.verification.detectors.world import WorldDetector
    from compose.verification.evaluation import separated_layouts
    from compose.world.draw import render_layout

    layouts = separated_layouts(min(renders, 200), seed=99)
    images = [render_layout(lay).image for lay in layouts]
    scenes = [scene_of(lay) for lay in layouts]
    detector = WorldDetector()
    detector.detect(images[0])
    full, alone, per_cpu = [], [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        for image, scene, lay in zip(images, scenes, layouts):
            verify(scene, image, layout=lay, detector=detector)
        full.append(len(images) / (time.perf_counter() - start))
        per_cpu.append(len(images) / (time.process_time() - cpu))
        start = time.perf_counter()
        for image in images:
            detector.detect(image)
        alone.append(len(images) / (time.perf_counter() - start))
    from compose.world.dataset import heldout_layouts

    overlapping = [render_layout(lay).image for lay in heldout_layouts(min(renders, 200))]
    rates = []
    for _ in range(repeat):
        cpu = time.process_time()
        for image in overlapping:
            detector.detect(image)
        rates.append(len(overlapping) / (time.process_time() - cpu))
    print(f"detector alone on held-out layouts (overlaps: refits): {statistics.median(rates):.1f} images per CPU-second")
    return statistics.median(full), statistics.median(alone), statistics.median(per_cpu)


def _engine_folder(root: Path, n: int) -> Path:
    """A GenEval folder of ``n`` world renders (one sample per prompt) and a COCO detections file
    of their drawn boxes."""
    import json

    from compose.verification.evaluation import separated_layouts
    from compose.world.draw import render_layout

    entries = []
    for i, lay in enumerate(separated_layouts(n, seed=11, canvas=(128, 128))):
        first = next(iter(lay.objects.values()))
        meta = {"tag": "single_object" if i % 2 else "counting", "prompt": f"a {first.class_name}",
                "include": [{"class": first.class_name, "count": 1}]}
        folder = root / f"{i:05d}" / "samples"
        folder.mkdir(parents=True)
        (root / f"{i:05d}" / "metadata.jsonl").write_text(json.dumps(meta) + "\n")
        render_layout(lay).image.save(folder / "0000.png")
        for inst, (x0, y0, x1, y1) in lay.boxes.items():
            entries.append({"image_id": f"{i:05d}/0000.png", "category": lay.objects[inst].class_name,
                            "bbox": [x0 * 128, y0 * 128, (x1 - x0) * 128, (y1 - y0) * 128], "score": 0.95})
    (root / "detections.json").write_text(json.dumps(entries))
    return root


def engine_rows(images: int, workers: list[int]) -> None:
    """images/s of verify-batch per engine and worker count. The clock is the batch runner's:
    spawning local workers and creating Ray actors is inside it, starting the Ray instance is not."""
    import shutil
    import tempfile

    from compose.batch.verify import VerifyTask, geneval_items, verify_batch

    root = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        folder = _engine_folder(root / "images", images)
        items = geneval_items(folder)
        engines = ["local"]
        try:
            import ray  # noqa: F401

            engines.append("ray")
        except ImportError:
            print("(ray is not installed: local engine only)")
        print(f"\n{'engine':<8} {'workers':>7} {'task':<34} {'images':>6} {'seconds':>8} {'images/s':>9}")
        # warm this process's imports and caches, so the first row is not charged for them
        verify_batch(items[:8], root / "warm", VerifyTask(), progress=False)
        tasks = [("compose checks, world detector", VerifyTask()),
                 ("GenEval protocol, COCO detections", VerifyTask(protocol="geneval",
                                                                  detections=str(folder / "detections.json")))]
        for engine in engines:
            for n in workers:
                for label, task in tasks:
                    out = root / f"out-{engine}-{n}-{len(label)}"
                    summary = verify_batch(items, out, task, engine=engine, workers=n, threads=1, progress=False)
                    print(f"{engine:<8} {n:>7} {label:<34} {summary['done_now']:>6} {summary['seconds_now']:>8.2f} "
                          f"{summary['images_per_second_now']:>9.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=120, help="images per engine run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts per engine")
    parser.add_argument("--engines-only", action="store_true", help="only the engine table")
    args = parser.parse_args()
    if args.engines_only:
        engine_rows(args.images, args.workers)
        return

    print(f"{'set':<22} {'renders':>7} {'objects':>7} {'counts':>8} {'recall':>8} {'shapes':>8} {'colors':>8} {'mean IoU':>8}")
    for name, f in accuracy_rows(args.renders):
        print(f"{name:<22} {f['renders']:>7} {f['objects']:>7} {f['count_accuracy']:>8.2%} {f['recall']:>8.2%} "
              f"{f['shape_accuracy']:>8.2%} {f['color_accuracy']:>8.2%} {f['mean_iou']:>8.3f}")
    agree, total = geneval_agreement()
    print(f"\nposition predicates vs GenEval's rule: {agree}/{total} agree ({agree / total:.4%})")
    passed, total, failing = self_pass(min(args.renders, 200))
    print(f"solver layouts rendered exactly, verified against their own scenes: {passed}/{total} pass "
          f"({passed / max(total, 1):.1%}); failing checks by kind: {failing}")
    import os

    full, alone, per_cpu = throughput(args.renders, args.repeat)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"throughput (64 x 64, one process, median of {args.repeat}): verify {full:.1f} images/s wall clock, "
          f"{per_cpu:.1f} images per CPU-second; detector alone {alone:.1f} images/s "
          f"(load average {load:.1f} on {os.cpu_count()} cores)")
    engine_rows(args.images, args.workers)


if __name__ == "__main__":
    main()
