"""Batch generation throughput: the local engine against Ray (plain actors, and Ray Data), by workers.

Every configuration generates the same items (prompts of the compositional suite,
:func:`compose.bench.compositional.build_suite`, each with its own seed) into a fresh folder with
:func:`compose.batch.generate.generate_batch`, and the table reports, per configuration:

- ``wall s``: the whole call, start-up included (worker processes, ``ray.init``, actors, model loading);
- ``first row s``: until the first item's row is on disk (the start-up cost);
- ``items/s``: items over wall time;
- ``steady items/s``: items after the first over the time from the first row to the last
  (what a long run converges to).

Rows are checked equal (timings aside) across every configuration, and the images byte for byte.
``ray-data`` runs the same task through Ray Data's ``map_batches`` with an actor pool (one
backbone per actor, ``batch_size=1``) and writes through the same runner, to compare the two
ways of using Ray; it needs ``pip install "ray[data]"``.

Usage::

    python benchmarks/bench_batch.py --items 200 --backbone embedded --workers 1 2
    python benchmarks/bench_batch.py --items 60 --backbone procedural --engines local ray ray-data

The thread count per worker is pinned (``--threads``, default 1) so that the configurations do
the same arithmetic (and give the same bytes).
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing.Self is Python 3.11+
    from typing_extensions import Self

from compose.batch import read_rows, run_batch
from compose.batch.engines import Engine, configure_threads, setup_task


class RowClock:
    """Polls a results file and notes when each row appears (no hook into the runner needed)."""

    def __init__(self, path: Path, every: float = 0.02) -> None:
        self.path, self.every = path, every
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._count()

    def _count(self) -> None:
        try:
            n = self.path.read_bytes().count(b"\n") if self.path.exists() else 0
        except OSError:
            return
        now = time.perf_counter()
        self.times.extend([now] * (n - len(self.times)))

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            self._count()


class RayDataEngine(Engine):
    """The same task through Ray Data: ``map_batches`` over an actor pool, streamed back."""

    name = "ray-data"

    def __init__(self, workers: int, threads: int) -> None:
        import ray

        self.ray, self.workers, self.threads = ray, workers, threads
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False)

    def describe(self) -> str:
        return f"ray-data, {self.workers} actor(s), {self.threads} thread(s) each"

    def run(self, task, items):
        import ray.data

        if not items:
            return
        threads = self.threads
        blob = pickle.dumps(task)

        class Worker:
            def __init__(self) -> None:
                configure_threads(threads, environment=True)
                self.task = pickle.loads(blob)
                setup_task(self.task)

            def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
                from compose.batch import run_item

                outcomes = []
                for i, raw in zip(batch["id"], batch["item"]):
                    configure_threads(threads)
                    outcomes.append(pickle.dumps(run_item(self.task, pickle.loads(raw))))
                return {"id": list(batch["id"]), "outcome": outcomes}

        by_id = {item.id: item for item in items}
        # one block per item, so that rows stream back one by one as they do from the plain actors
        data = ray.data.from_items([{"id": item.id, "item": pickle.dumps(item)} for item in items],
                                   override_num_blocks=len(items))
        data = data.map_batches(Worker, batch_size=1, concurrency=self.workers, num_cpus=threads, batch_format="numpy")
        for row in data.iter_rows():
            output, error = pickle.loads(row["outcome"])
            yield by_id[str(row["id"])], output, error

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()


def spec_file(folder: Path, items: int, seed: int, max_rounds: int) -> Path:
    from compose.bench.compositional import CATEGORIES, build_suite

    per_category = -(-items // len(CATEGORIES))
    suite = build_suite(seed=seed, per_category=per_category)
    # round-robin over categories so that a short run still has every kind of prompt
    by_category: dict[str, list[dict[str, Any]]] = {}
    for entry in suite:
        by_category.setdefault(entry["category"], []).append(entry)
    chosen = []
    while len(chosen) < items:
        for category in CATEGORIES:
            if by_category.get(category) and len(chosen) < items:
                chosen.append(by_category[category].pop(0))
    path = folder / "spec.jsonl"
    path.write_text("".join(json.dumps({"id": e["id"], "prompt": e["prompt"], "seed": e["seed"] % 100000,
                                        "max_rounds": max_rounds}) + "\n" for e in chosen))
    return path


def run_config(engine: str, workers: int, spec: Path, out: Path, args) -> dict[str, Any]:
    from compose.batch.generate import (
        GenerateTask,
        error_item_row,
        generate_batch,
        read_spec,
        summarise,
    )

    options = {"weights": args.weights} if args.weights else {}
    started = time.perf_counter()
    with RowClock(out / "results.jsonl") as clock:
        if engine == "ray-data":
            out.mkdir(parents=True, exist_ok=True)
            task = GenerateTask(backbone=args.backbone, max_rounds=args.max_rounds, backbone_options=options)
            items = read_spec(spec)
            runner = RayDataEngine(workers, args.threads)
            try:
                run_batch(items, task, results=out / "results.jsonl", on_error=error_item_row, progress=False,
                          engine=runner, files_dir=out / "items")
            finally:
                runner.close()
            summary = summarise(out / "results.jsonl", [i.id for i in items])
        else:
            summary = generate_batch(spec, out, engine=engine, workers=workers, backbone=args.backbone,
                                     max_rounds=args.max_rounds, backbone_options=options, threads=args.threads,
                                     progress=False)
    wall = time.perf_counter() - started
    times = [t - started for t in clock.times]
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")
    return {"engine": engine, "workers": workers, "items": summary["done"], "passed": summary["passed"],
            "errors": summary["errors"], "wall_s": wall, "first_row_s": times[0] if times else float("nan"),
            "items_per_s": summary["done"] / wall, "steady_items_per_s": steady}


def same_outputs(folders: list[Path]) -> bool:
    def rows(folder: Path) -> dict[str, dict]:
        return {r["id"]: {k: v for k, v in r.items() if k != "timings"} for r in read_rows(folder / "results.jsonl")}

    first = rows(folders[0])
    for folder in folders[1:]:
        if rows(folder) != first:
            return False
        for row in first.values():
            if "image" in row and (folders[0] / row["image"]).read_bytes() != (folder / row["image"]).read_bytes():
                return False
    return True


def format_table(results: list[dict[str, Any]], title: str) -> str:
    head = f"{'engine':<9} {'workers':>7} {'items':>5} {'passed':>6} {'errors':>6} {'wall s':>8} " \
           f"{'first row s':>11} {'items/s':>8} {'steady items/s':>14}"
    lines = [title, head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['engine']:<9} {r['workers']:>7} {r['items']:>5} {r['passed']:>6} {r['errors']:>6} "
                     f"{r['wall_s']:>8.1f} {r['first_row_s']:>11.1f} {r['items_per_s']:>8.3f} "
                     f"{r['steady_items_per_s']:>14.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--backbone", default="embedded")
    parser.add_argument("--weights", help="embedded weights (default: the shipped ones)")
    parser.add_argument("--max-rounds", type=int, default=0, help="repaint rounds (default 0: layout, render, verify)")
    parser.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray", "ray-data"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration (the table shows medians)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    spec = spec_file(root, args.items, args.seed, args.max_rounds)
    results, folders = [], []
    try:
        configs = [(engine, workers) for engine in args.engines for workers in args.workers]
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {config: [] for config in configs}
        # repeats interleaved (all configurations, then again) so that a change in the machine's
        # load spreads over every configuration instead of landing on one
        for k in range(args.repeats):
            for engine, workers in configs:
                out = root / f"{engine}-{workers}-{k}"
                runs[engine, workers].append(run_config(engine, workers, spec, out, args))
                folders.append(out)
                print(json.dumps(runs[engine, workers][-1]), flush=True)
        for config in configs:
            done = runs[config]
            results.append({key: (statistics.median(r[key] for r in done) if isinstance(done[0][key], float)
                                  else done[0][key]) for key in done[0]})
        identical = same_outputs(folders)
        title = (f"bench_batch: {args.items} compositional-suite prompts, backbone {args.backbone}"
                 f"{' (' + Path(args.weights).name + ')' if args.weights else ''}, max_rounds {args.max_rounds}, "
                 f"{args.threads} torch thread(s) per worker, medians of {args.repeats}; "
                 f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs; "
                 f"outputs identical across configurations: {identical}")
        print(format_table(results, title))
        if args.json:
            Path(args.json).write_text(json.dumps({"title": title, "results": results}, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
