"""Layout solver benchmark: one table.

Rows: median time per layout for planted scenes of 5..500 objects with about one relation per
object (compose.planted), how often a layout is found within the time limit, the diversity of
layouts across seeds (mean IoU of the same object, lower is more diverse), and the time to the
first explanation of impossible scenes. Beside ours, in the same run, the same problems in
Scenic 3 (a 2D workspace, one ``Object`` per box sized uniformly between our minimum and prior
sizes, and every relation's encoding as a ``require``), when a Python with Scenic is found (``$SCENIC_PYTHON``, else
``/tmp/scenic-venv/bin/python``).

Run: ``.venv/bin/python benchmarks/bench_solver.py [--quick] [--markdown docs/solver.md]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [5, 20, 50, 100, 200, 500]
SCENES = {5: 5, 20: 5, 50: 5, 100: 3, 200: 3, 500: 2}
TIME_LIMIT = 10.0

SCENIC_DRIVER = r'''
import json, signal, sys, time
import scenic
class Timeout(Exception):
    pass
def alarm(*_):
    raise Timeout()
signal.signal(signal.SIGALRM, alarm)
out = []
for path in sys.argv[2:]:
    code = open(path).read()
    start = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
        scenario = scenic.scenarioFromString(code, mode2D=True)
        scene, iterations = scenario.generate(maxIterations=10**9, verbosity=0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.append({"ok": True, "seconds": time.perf_counter() - start, "iterations": iterations})
    except Timeout:
        out.append({"ok": False, "seconds": time.perf_counter() - start})
    except Exception as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.append({"ok": False, "seconds": time.perf_counter() - start, "error": repr(exc)[:200]})
print(json.dumps(out))
'''


def scenic_python() -> str | None:
    for candidate in (os.environ.get("SCENIC_PYTHON"), "/tmp/scenic-venv/bin/python"):
        if candidate and Path(candidate).exists():
            ok = subprocess.run([candidate, "-c", "import scenic"], capture_output=True).returncode == 0
            if ok:
                return candidate
    return None


def scenic_program(problem) -> str:
    """The problem in Scenic 3: boxes between the minimum and prior sizes in a W x H workspace, each hard
    constraint (the relations' encodings) as a ``require``. Scenic's objects never overlap."""
    from compose.solvers.model import AnyOf, Linear

    W, H = problem.width, problem.height
    lines = [f"workspace = Workspace(RectangularRegion({W / 2} @ {H / 2}, 0, {W}, {H}))"]
    names = {}
    wanted = {}
    for target in problem.targets:
        ((name, attr), coef), *rest = target.expr.terms.items()
        if not rest and attr in ("w", "h"):
            wanted.setdefault(name, {})[attr] = target.value
    for k, (name, spec) in enumerate(problem.boxes.items()):
        var = f"o{k}"
        names[name] = var
        if spec.fixed is not None:
            x0, y0, x1, y1 = spec.fixed
            w, h = x1 - x0, y1 - y0
            where = f"at {(x0 + x1) / 2} @ {(y0 + y1) / 2}"
        else:
            # as free as ours: any size from the minimum up to the prior (our size target)
            w = f"Range({spec.min_w}, {max(spec.min_w + 1, wanted.get(name, {}).get('w', spec.min_w))})"
            h = f"Range({spec.min_h}, {max(spec.min_h + 1, wanted.get(name, {}).get('h', spec.min_h))})"
            where = "in workspace"
        lines.append(f"{var} = new Object {where}, with width {w}, with length {h}, with requireVisible False")

    def attr(name: str, a: str) -> str:
        v = names[name]
        return {"x0": f"({v}.position.x - {v}.width / 2)", "x1": f"({v}.position.x + {v}.width / 2)",
                "y0": f"({v}.position.y - {v}.length / 2)", "y1": f"({v}.position.y + {v}.length / 2)",
                "w": f"{v}.width", "h": f"{v}.length"}[a]

    def linear(lin: Linear) -> str:
        expr = " + ".join(f"({c}) * {attr(n, a)}" for (n, a), c in lin.expr.terms.items()) or "0"
        parts = []
        if lin.lo is not None:
            parts.append(f"({expr}) >= {lin.lo}")
        if lin.hi is not None:
            parts.append(f"({expr}) <= {lin.hi}")
        return " and ".join(parts)

    for req in problem.requirements:
        if getattr(req.tag, "kind", None) == "object":
            continue  # size and aspect bounds: Scenic's boxes have their prior size already
        c = req.constraint
        if isinstance(c, AnyOf):
            lines.append("require " + " or ".join(f"({' and '.join(linear(l) for l in b)})" for b in c.branches))
        else:
            lines.append(f"require {linear(c)}")
    return "\n".join(lines) + "\n"


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def impossible_scenes():
    from compose.scene import ObjectGroup, Ref, RelationStatement, Scene

    def obj(name, **kw):
        return ObjectGroup(name=name, phrase=f"a {name}", **kw)

    def rel(a, p, b):
        return RelationStatement(subject=Ref(group=a), predicate=p, objects=[Ref(group=b)])

    filler = [obj(f"f{i}", size="tiny") for i in range(17)]
    return {
        "left-of cycle (20 objects)": Scene(objects=[obj("a"), obj("b"), obj("c"), *filler],
                                            statements=[rel("a", "left_of", "b"), rel("b", "left_of", "c"),
                                                        rel("c", "left_of", "a"), rel("f0", "above", "f1")]),
        "inside a smaller thing": Scene(objects=[obj("ball"), obj("box")],
                                        statements=[rel("ball", "inside", "box"), rel("box", "smaller_than", "ball")]),
        "40 large objects, 64 px canvas": Scene(canvas=(64, 64), objects=[obj("crate", count=40, size="large")]),
        "40 large objects, one line each": Scene(objects=[obj(f"c{i}", size="large") for i in range(40)]),
        "fixed box vs relation": Scene(objects=[obj("sun", at=(0.1, 0.6, 0.3, 0.8)), obj("tree", at=(0.5, 0.2, 0.7, 0.5))],
                                       statements=[rel("sun", "above", "tree")]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer scenes, up to 100 objects")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table into this file (between markers)")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT)
    args = parser.parse_args()

    from compose.errors import ComposeError, InfeasibleLayoutError
    from compose.placement import build_problem, place
    from compose.placement.planted import planted_scene

    sizes = [n for n in SIZES if not args.quick or n <= 100]
    scenic = scenic_python()
    rows = []
    place(planted_scene(3, seed=99)[0], seed=0)  # imports and first-call costs out of the timings
    for n in sizes:
        ours, found, scenic_times, scenic_found = [], 0, [], 0
        programs = []
        for k in range(SCENES[n] if not args.quick else 2):
            scene, _ = planted_scene(n, seed=k)
            start = time.perf_counter()
            try:
                place(scene, seed=0, time_limit=args.time_limit)
                found += 1
                ours.append(time.perf_counter() - start)
            except ComposeError:
                ours.append(time.perf_counter() - start)
            if scenic:
                problem, _, _ = build_problem(scene, seed=0)
                programs.append(scenic_program(problem))
        if scenic and programs:
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for k, text in enumerate(programs):
                    path = Path(tmp) / f"scene{k}.scenic"
                    path.write_text(text)
                    paths.append(str(path))
                done = subprocess.run([scenic, "-c", SCENIC_DRIVER, str(args.time_limit), *paths],
                                      capture_output=True, text=True, timeout=60 + args.time_limit * len(paths) * 2)
                try:
                    results = json.loads(done.stdout.strip().splitlines()[-1])
                except (IndexError, json.JSONDecodeError):
                    results = [{"ok": False, "seconds": args.time_limit, "error": done.stderr[-200:]}] * len(paths)
                for r in results:
                    scenic_times.append(r["seconds"])
                    scenic_found += bool(r["ok"])
                errors = {r.get("error") for r in results if r.get("error")}
                if errors:
                    print(f"scenic errors at n={n}: {errors}", file=sys.stderr)
        med = statistics.median(ours)
        row = {"n": n, "ours_ms": 1000 * med, "ours_found": f"{found}/{len(ours)}"}
        if scenic_times:
            s_med = statistics.median(scenic_times)
            row.update(scenic_ms=1000 * s_med, scenic_found=f"{scenic_found}/{len(scenic_times)}",
                       speedup=s_med / med if med > 0 else float("nan"))
        rows.append(row)
        print(row, file=sys.stderr, flush=True)

    # diversity: the same object across seeds
    diversity = {}
    for n in (5, 20):
        values = []
        for k in range(3):
            scene, _ = planted_scene(n, seed=100 + k)
            layouts = [place(scene, seed=s) for s in range(5)]
            for i in range(len(layouts)):
                for j in range(i + 1, len(layouts)):
                    values += [iou(layouts[i].boxes[o], layouts[j].boxes[o]) for o in layouts[i].boxes]
        diversity[n] = statistics.mean(values)
    # same seed, same layout
    scene, _ = planted_scene(20, seed=7)
    deterministic = place(scene, seed=3).boxes == place(scene, seed=3).boxes

    explain = {}
    for name, scene in impossible_scenes().items():
        start = time.perf_counter()
        try:
            place(scene, time_limit=30)
            explain[name] = (time.perf_counter() - start, "no error!")
        except InfeasibleLayoutError as err:
            explain[name] = (time.perf_counter() - start, f"{len(err.conflicts)} statement(s)")

    lines = ["| objects | ours: median ms | ours: found | Scenic 3: median ms | Scenic 3: found | speed-up |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['ours_ms']:.0f} | {r['ours_found']} | "
                     + (f"{r['scenic_ms']:.0f} | {r['scenic_found']} | {r['speedup']:.1f}x |" if "scenic_ms" in r
                        else "n/a | n/a | n/a |"))
    lines.append("")
    lines.append(f"Time limit {args.time_limit:g} s per layout (a miss counts its time spent, so where "
                 "Scenic misses, the speed-up is a lower bound; where we miss too, it means little). "
                 f"Scenic: {'installed (' + scenic + ')' if scenic else 'not installed'}.")
    lines.append("")
    lines.append("| measure | value |")
    lines.append("|---|---:|")
    for n, v in diversity.items():
        lines.append(f"| diversity: mean IoU of an object across 5 seeds, {n} objects | {v:.3f} |")
    lines.append(f"| same seed, same layout | {'yes' if deterministic else 'NO'} |")
    for name, (seconds, what) in explain.items():
        lines.append(f"| time to explanation: {name} | {1000 * seconds:.0f} ms ({what}) |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        path = Path(args.markdown)
        text = path.read_text() if path.exists() else ""
        begin, end = "<!-- bench_solver:begin -->", "<!-- bench_solver:end -->"
        block = f"{begin}\n{table}\n{end}"
        if begin in text and end in text:
            text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text = text + ("\n" if text else "") + block + "\n"
        path.write_text(text)


if __name__ == "__main__":
    main()
