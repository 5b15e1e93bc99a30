"""Memory and time of every hostile input of issue 18, each run as its own ``compose`` process.

Each input runs as ``python -m compose ...`` in a fresh process; its peak resident memory is the
``ru_maxrss`` that ``os.wait4`` reports for that process alone, its time the wall clock from
start to exit. The targets: under 2 GB and under 30 s on every input, each ending with a coded
error (never ``error[internal]``). Prints a table; exits 1 if any input misses a target.

    .venv/bin/python benchmarks/bench_reliability.py
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = 'object square "a red square" color red\nobject circle "a blue circle" color blue\nsquare left of circle\n'
MEMORY_LIMIT_MB = 2048
TIME_LIMIT_S = 30


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def real_bomb(path: Path, side: int) -> None:
    """A real PNG of ``side`` x ``side`` black pixels: a few kilobytes that decode to side**2 bytes."""
    raw = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    data = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def inputs(d: Path) -> list[tuple[str, list[str]]]:
    (d / "shapes.scene").write_text(SHAPES)
    (d / "big.json").write_text(json.dumps({"groups": [{"name": f"g{i}", "phrase": "a cube", "count": 200}
                                                        for i in range(200)]}))
    (d / "many.scene").write_text("".join(f'object o{i} "a cube"\n' for i in range(5000)))
    (d / "nested.json").write_text("[" * 100_000)
    (d / "digits.scene").write_text('object a "a" count ' + "9" * 5000 + "\n")
    (d / "between.json").write_text(json.dumps({"groups": [{"name": "a", "phrase": "a"}, {"name": "b", "phrase": "b"}],
                                                "statements": [{"subject": {"group": "a"}, "predicate": "between",
                                                                "objects": [{"group": "b"}]}]}))
    (d / "nan.json").write_text('{"groups": [{"name": "a", "phrase": "a", "aspect": NaN}]}')
    (d / "self.json").write_text(json.dumps({"groups": [{"name": "a", "phrase": "a"}], "statements": [
        {"subject": {"group": "a"}, "predicate": "left_of", "objects": [{"group": "a"}]}]}))
    (d / "derived.json").write_text(json.dumps({"objects": [{"id": "a#0", "group": "a", "index": 0,
                                                             "class": "a", "phrase": "a"}]}))
    real_bomb(d / "bomb9000.png", 9000)
    (d / "bomb30000.png").write_bytes(png_claiming(30000, 30000))
    (d / "spec.jsonl").write_text(json.dumps({"scene": "/dev/zero"}) + "\n")
    fifo = d / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    # at the limits, just inside them: the work they allow must itself stay within the targets
    (d / "rel5000.scene").write_text('object a "a square" count 25\nobject b "a circle" count 200\na left of b\n')
    (d / "between5000.scene").write_text('object a "a square" count 10\nobject b "a circle" count 10\n'
                                         'object c "a star" count 50\na between b and c\n')
    (d / "free500.scene").write_text("".join(f'object o{i} "a square"\n' for i in range(500)))
    (d / "canvas.scene").write_text('canvas 2048 x 2048\nobject star "a star"\nobject circle "a circle"\n')
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (2048, 2048), "white")
    ImageDraw.Draw(image).rectangle((100, 100, 800, 800), fill="red")
    image.save(d / "big2048.png")
    prompt = ", ".join(["200 red squares", "200 blue circles"] * 60)[:1999]
    return [
        ("scene JSON 200 groups x count 200", ["layout", str(d / "big.json")]),
        ("1,999-character prompt of counts", ["layout", "--prompt", prompt]),
        ("5,000 objects", ["layout", str(d / "many.scene")]),
        ("9000 x 9000 PNG (real, decodable)", ["verify", str(d / "shapes.scene"), str(d / "bomb9000.png"),
                                               "--detector", "world"]),
        ("30000 x 30000 PNG header", ["verify", str(d / "shapes.scene"), str(d / "bomb30000.png"),
                                      "--detector", "world"]),
        ("check /dev/zero", ["check", "/dev/zero"]),
        ("parse --prompts /dev/urandom", ["parse", "--prompts", "/dev/urandom"]),
        ("check FIFO", ["check", str(fifo)]),
        ('spec line {"scene": "/dev/zero"}', ["generate-batch", str(d / "spec.jsonl"), "-o", str(d / "out"),
                                               "--backbone", "procedural", "--no-progress"]),
        ("100k nested [", ["check", str(d / "nested.json")]),
        ("5,000-digit count", ["check", str(d / "digits.scene")]),
        ("between with one object", ["check", str(d / "between.json")]),
        ("NaN aspect", ["check", str(d / "nan.json")]),
        ("a left_of a (JSON)", ["check", str(d / "self.json")]),
        ("only derived objects", ["check", str(d / "derived.json")]),
        ("limit: 5,000 relations (left of)", ["layout", str(d / "rel5000.scene")]),
        ("limit: 5,000 relations (between)", ["layout", str(d / "between5000.scene")]),
        ("limit: 500 instances", ["layout", str(d / "free500.scene")]),
        ("limit: verify a 2048 x 2048 image", ["verify", str(d / "shapes.scene"), str(d / "big2048.png"),
                                               "--detector", "world"]),
        ("limit: generate on a 2048 x 2048 canvas", ["generate", str(d / "canvas.scene"), "-o", str(d / "c"),
                                                     "--backbone", "procedural", "--max-rounds", "3"]),
        ("--max-rounds 100000000", ["generate", str(d / "shapes.scene"), "-o", str(d / "g"),
                                    "--max-rounds", "100000000"]),
    ]


def run(argv: list[str]) -> tuple[int, str, float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "compose", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    code = next((line.split("]")[0].split("[")[1] for line in err.splitlines() if line.startswith("error[")), "-")
    if argv[0] == "generate-batch" and code == "-":  # an item's error is its row's, the run goes on
        rows = (Path(argv[argv.index("-o") + 1]) / "results.jsonl").read_text().splitlines()
        code = "row " + json.loads(rows[-1])["error"]["code"]
    return proc.returncode, code, seconds, usage.ru_maxrss / 1024


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name, argv in inputs(Path(tmp)):
            code, error, seconds, mb = run(argv)
            coded = error not in ("internal", "-") or name.startswith("limit:")  # inside a limit: any outcome
            ok = coded and mb < MEMORY_LIMIT_MB and seconds < TIME_LIMIT_S
            failed += not ok
            rows.append((name, code, error, seconds, mb, "ok" if ok else "MISS"))
    print(f"{'input':<38} {'exit':>4} {'error':>8} {'seconds':>8} {'peak MB':>8}  target")
    for name, code, error, seconds, mb, verdict in rows:
        print(f"{name:<38} {code:>4} {error:>8} {seconds:>8.2f} {mb:>8.0f}  {verdict}")
    print(f"\ntargets: < {MEMORY_LIMIT_MB} MB peak RSS, < {TIME_LIMIT_S} s, a coded error; {failed} missed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
