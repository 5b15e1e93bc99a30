"""Reliability on hostile input (issue 18): every finding is a coded error with the right exit
code, bounded in memory and time; one run per output folder; workers die with their driver."""

from __future__ import annotations

import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.batch import BatchItem, read_rows, run_batch
from compose.cli.main import main
from compose.errors import ComposeError, SceneError, UsageError
from compose.io import FolderLock, RowWriter
from compose.limits import MAX_INSTANCES, MAX_RELATIONS
from compose.scene import Scene

ROOT = Path(__file__).resolve().parent.parent
SHAPES = 'object square "a red square" color red\nobject circle "a blue circle" color blue\nsquare left of circle\n'


def cli(capsys, *argv) -> tuple[int, str]:
    """Run the command in this process; its exit code and standard error."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def expect(capsys, code: int, error: str, *argv) -> str:
    got, err = cli(capsys, *argv)
    assert f"error[{error}]" in err, err
    assert got == code, err
    assert "error[internal]" not in err
    return err


def scene_json(tmp_path: Path, data, name="scene.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def group(name="a", **extra):
    return {"name": name, "phrase": f"a {name}", **extra}


def rel(subject, predicate, *objects, **extra):
    return {"subject": {"group": subject}, "predicate": predicate, "objects": [{"group": o} for o in objects], **extra}


# --- memory without bound: limits checked before expansion ---------------------------------------

def test_a_scene_json_of_200_groups_of_200_is_refused_before_expansion(tmp_path, capsys):
    path = scene_json(tmp_path, {"groups": [group(f"g{i}", count=200) for i in range(200)]})
    err = expect(capsys, 3, "E116", "layout", path)
    assert "40000 object instances" in err and str(MAX_INSTANCES) in err


def test_relations_are_counted_before_they_are_expanded(tmp_path, capsys):
    groups = [group("a", count=200), group("b", count=200), group("c", count=100)]
    path = scene_json(tmp_path, {"groups": groups, "statements": [rel("a", "between", "b", "c")]})
    err = expect(capsys, 3, "E116", "check", path)
    assert "relations" in err and str(MAX_RELATIONS) in err


def test_a_long_prompt_of_many_counts_is_refused(capsys):
    prompt = ", ".join(["200 red squares", "200 blue circles"] * 60)[:1999]
    expect(capsys, 3, "E116", "parse", "--prompt", prompt)


def test_5000_objects_are_refused_without_a_long_explanation(tmp_path, capsys):
    path = tmp_path / "many.scene"
    path.write_text("".join(f'object o{i} "a cube"\n' for i in range(5000)), encoding="utf-8")
    err = expect(capsys, 3, "E116", "layout", path)
    assert err.count("\n") < 10


def test_a_huge_canvas_is_refused(tmp_path, capsys):
    path = tmp_path / "big.scene"
    path.write_text('canvas 16384 x 16384\nobject a "a square"\n', encoding="utf-8")
    expect(capsys, 3, "E116", "check", path)


def tiny_png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header says ``width`` x ``height`` (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9000, 30000])
def test_an_image_that_decodes_to_too_many_pixels_is_refused_before_decoding(tmp_path, capsys, side):
    scene = tmp_path / "s.scene"
    scene.write_text(SHAPES, encoding="utf-8")
    image = tmp_path / "bomb.png"
    image.write_bytes(tiny_png_claiming(side, side))
    err = expect(capsys, 2, "E507", "verify", scene, image, "--detector", "world")
    assert f"{side} x {side}" in err


def test_the_explanation_of_an_infeasible_layout_is_bounded(tmp_path, capsys):
    from compose.limits import MAX_CONFLICTS_SHOWN

    lines = ['object a "a square"', 'object b "a star"']
    lines += ["a left of b", "b left of a"] * 100
    path = tmp_path / "contra.scene"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = expect(capsys, 4, "E301", "layout", path)
    assert err.count("-->") <= MAX_CONFLICTS_SHOWN + 1


# --- device files and FIFOs ------------------------------------------------------------------------

def test_devices_and_fifos_are_refused_without_reading(tmp_path, capsys):
    expect(capsys, 2, "E007", "check", "/dev/zero")
    expect(capsys, 2, "E007", "parse", "--prompts", "/dev/urandom")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    expect(capsys, 2, "E007", "check", fifo)


def test_a_spec_line_naming_a_device_is_that_items_coded_error(tmp_path):
    from compose.batch.generate import GenerateTask, error_item_row
    from compose.sources import scene_from_spec

    with pytest.raises(UsageError) as info:
        scene_from_spec({"scene": "/dev/zero", "line": 1})
    assert info.value.code == "E007"
    row = error_item_row(BatchItem("a", {"scene": "/dev/zero", "line": 1}), info.value)
    assert row["error"]["code"] == "E007"
    assert GenerateTask  # the task raises the same error for the item (it calls scene_from_spec)


# --- uncoded crashes -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000, "nested too deep"),
    ('{"groups": [{"name": "a", "phrase": "a", "count": ' + "9" * 5000 + "}]}", "digits"),
])
def test_hostile_json_is_a_coded_error(tmp_path, capsys, text, fragment):
    err = expect(capsys, 3, "E005", "check", scene_json(tmp_path, text))
    assert fragment in err


def test_a_5000_digit_count_in_a_program_is_a_coded_error(tmp_path, capsys):
    path = tmp_path / "digits.scene"
    path.write_text('object a "a" count ' + "9" * 5000 + "\n", encoding="utf-8")
    expect(capsys, 3, "E114", "check", path)


@pytest.mark.parametrize("data, code", [
    ({"groups": [group("a"), group("b")], "statements": [rel("a", "between", "b")]}, "E113"),
    ({"groups": [group("a"), group("b")], "statements": [rel("a", "left_of", "a")]}, "E106"),
    ({"groups": [group("a\nb")]}, "E114"),
    ({"groups": [group("seed")]}, "E114"),
    ({"objects": [{"id": "a#0", "group": "a", "index": 0, "class": "a", "phrase": "a"}]}, "E005"),
    ({"groups": []}, "E002"),
    ({"groups": [group("a", aspect=float("nan"))]}, "E005"),
    ({"groups": [group("a", aspect=float("inf"))]}, "E005"),
    ({"groups": [group("a"), group("b")], "statements": [rel("a", "left_of", "b", weight=float("nan"))]}, "E005"),
    ({"groups": [group("a"), group("b")], "statements": [rel("a", "left_of", "b", weight=float("inf"))]}, "E005"),
    ({"groups": [group("a")], "seed": 10**20}, "E005"),
    ({"groups": [group("a")], "seed": -1}, "E005"),
])
def test_scene_json_is_held_to_the_languages_checks(tmp_path, capsys, data, code):
    expect(capsys, 3, code, "check", scene_json(tmp_path, json.dumps(data, allow_nan=True)))


def test_a_name_with_a_newline_never_reaches_the_write_step(tmp_path, capsys):
    path = scene_json(tmp_path, {"groups": [group("a\nb")]})
    expect(capsys, 3, "E114", "generate", path, "-o", tmp_path / "out", "--backbone", "procedural")
    assert not (tmp_path / "out").exists()


def test_parse_and_fmt_agree_that_x_is_a_name(tmp_path, capsys):
    path = tmp_path / "x.scene"
    path.write_text('object x "an x"\nobject y "a y"\nx left of y\n', encoding="utf-8")
    assert cli(capsys, "check", path)[0] == 0
    assert cli(capsys, "fmt", path)[0] == 0
    assert cli(capsys, "check", path)[0] == 0
    keyword = tmp_path / "kw.scene"
    keyword.write_text('object seed "a seed"\n', encoding="utf-8")
    expect(capsys, 3, "E114", "check", keyword)


@pytest.mark.parametrize("seed", ["-1", str(10**20)])
@pytest.mark.parametrize("command", ["layout", "render", "generate"])
def test_seeds_outside_the_range_are_refused(tmp_path, capsys, seed, command):
    path = tmp_path / "s.scene"
    path.write_text(SHAPES, encoding="utf-8")
    out = ["-o", tmp_path / "out.png"] if command != "layout" else []
    expect(capsys, 2, "E006", command, path, "--seed", seed, *out)


def test_cuda_without_cuda_is_refused_before_work(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # the refusal is for machines without it
    path = tmp_path / "s.scene"
    path.write_text(SHAPES, encoding="utf-8")
    expect(capsys, 2, "E006", "generate", path, "-o", tmp_path / "out", "--device", "cuda")


def test_verify_html_into_an_existing_file_is_a_coded_error(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "s.scene"
    path.write_text(SHAPES, encoding="utf-8")
    image = tmp_path / "i.png"
    Image.new("RGB", (64, 64), "white").save(image)
    existing = tmp_path / "page.html"
    existing.write_text("keep", encoding="utf-8")
    code, err = cli(capsys, "verify", path, image, "--detector", "world", "--html", existing)
    assert "error[E008]" in err and code == 2 and existing.read_text() == "keep"


def items_file(tmp_path: Path, lines: list[dict]) -> Path:
    from PIL import Image

    image = tmp_path / "i.png"
    Image.new("RGB", (64, 64), "white").save(image)
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"image": "i.png", **line}) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("lines, code", [
    ([{"id": "a", "program": SHAPES}, {"id": "a", "program": SHAPES}], "E608"),
    ([{"metadata": ["not", "an", "object"]}], "E601"),
    ([{"prompt": "a red square", "tag": 7}], "E601"),
])
def test_verify_batch_bad_items_are_coded_errors_before_any_row(tmp_path, capsys, lines, code):
    items = items_file(tmp_path, lines)
    expect(capsys, 2, code, "verify-batch", "--items", items, "--out", tmp_path / "out", "--detector", "world",
           "--no-progress")
    assert not (tmp_path / "out" / "results.jsonl").exists() or not read_rows(tmp_path / "out" / "results.jsonl")


# --- run-level options: once, before the first item, exit 2 ----------------------------------------

def spec_file(tmp_path: Path, n: int = 2) -> Path:
    path = tmp_path / "spec.jsonl"
    path.write_text("".join(json.dumps({"program": SHAPES, "max_rounds": 0}) + "\n" for _ in range(n)),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("options, code", [
    (["--steps", "0"], "E006"),
    (["--guidance", "-1"], "E006"),
    (["--threads", "-2"], "E006"),
    (["--workers", "0"], "E006"),
    (["--limit", "-1"], "E006"),
    (["--max-rounds", "100000000"], "E006"),
    (["--item-timeout", "0"], "E006"),
    (["--detector", "nope"], "E503"),
    (["--backbone", "nope"], "E401"),
    (["--backbone-options", '{"weigths": "w.safetensors"}'], "E006"),
])
def test_run_level_mistakes_stop_the_run_before_the_first_item(tmp_path, capsys, options, code):
    out = tmp_path / "out"
    expect(capsys, 2, code, "generate-batch", spec_file(tmp_path), "-o", out, "--no-progress", *options)
    assert not (out / "results.jsonl").exists()


def test_bad_weights_stop_the_run_instead_of_an_error_row_per_item(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"tampered")
    (tmp_path / "w.sha256").write_text("0" * 64 + "\n", encoding="utf-8")
    out = tmp_path / "out"
    expect(capsys, 5, "E404", "generate-batch", spec_file(tmp_path), "-o", out, "--no-progress",
           "--backbone-options", json.dumps({"weights": str(weights)}))
    assert read_rows(out / "results.jsonl") == []


def test_spec_lines_are_held_to_the_same_bounds(tmp_path, capsys):
    path = tmp_path / "spec.jsonl"
    for line in ({"program": SHAPES, "seed": 10**20}, {"program": SHAPES, "max_rounds": 10**8},
                 {"program": SHAPES, "backbone": "nope"}, "[" * 100_000):
        path.write_text((line if isinstance(line, str) else json.dumps(line)) + "\n", encoding="utf-8")
        expect(capsys, 2, "E601", "generate-batch", path, "-o", tmp_path / "out", "--no-progress")


def test_an_item_past_its_time_limit_is_stopped_as_a_coded_row(tmp_path):
    from compose.batch.engines.local import LocalEngine

    def slow(item):
        if item.payload == "slow":
            time.sleep(30)
        return {"ok": True}

    started = time.monotonic()
    stats = run_batch([BatchItem("a", "slow"), BatchItem("b", "fast")], slow, results=tmp_path / "r.jsonl",
                      engine=LocalEngine(item_timeout=0.5), progress=False)
    rows = {r["id"]: r for r in read_rows(tmp_path / "r.jsonl")}
    assert time.monotonic() - started < 10 and stats.errors == 1
    assert rows["a"]["error"]["code"] == "E607" and rows["b"]["ok"] is True


# --- weights ---------------------------------------------------------------------------------------

def test_model_is_read_by_the_embedded_backbone(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"tampered")
    path = tmp_path / "s.scene"
    path.write_text(SHAPES, encoding="utf-8")
    expect(capsys, 5, "E403", "generate", path, "-o", tmp_path / "out", "--model", weights, "--max-rounds", "0")


def test_the_shipped_digest_is_pinned_in_code(tmp_path, monkeypatch):
    from compose.backbones import embedded

    fake = tmp_path / "embedded.safetensors"
    fake.write_bytes(b"tampered")
    from compose.io import sha256_file

    (tmp_path / "embedded.sha256").write_text(sha256_file(fake) + "\n", encoding="utf-8")  # rewritten to match
    monkeypatch.setattr(embedded, "WEIGHTS", fake.resolve())
    with pytest.raises(ComposeError) as info:
        embedded.verified_weights(fake)
    assert info.value.code == "E404" and embedded.SHIPPED_SHA256 in str(info.value)
    assert sha256_file(embedded.CHECKSUM.with_suffix(".safetensors")) == embedded.SHIPPED_SHA256


def test_run_json_records_the_weights_used(tmp_path, capsys):
    from compose.backbones.embedded import SHIPPED_SHA256, WEIGHTS

    path = tmp_path / "s.scene"
    path.write_text(SHAPES, encoding="utf-8")
    code, err = cli(capsys, "generate", path, "-o", tmp_path / "out", "--max-rounds", "0", "--steps", "2")
    assert code in (0, 6), err
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["weights"] == {"file": str(WEIGHTS), "sha256": SHIPPED_SHA256}


# --- one run per folder; symlinks ------------------------------------------------------------------

def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path, capsys):
    out = tmp_path / "out"
    with FolderLock(out):
        err = expect(capsys, 2, "E606", "generate-batch", spec_file(tmp_path), "-o", out, "--no-progress",
                     "--backbone", "procedural")
        assert f"pid {os.getpid()}" in err
    assert read_rows(out / "results.jsonl") == []


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    code = ("import sys, time; from compose.io import FolderLock; FolderLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, cwd=ROOT)
    assert holder.stdout.readline().strip() == b"locked"
    with pytest.raises(UsageError) as info:
        FolderLock(out).acquire()
    assert info.value.code == "E606" and str(holder.pid) in str(info.value)
    holder.kill()
    holder.wait()
    assert (out / ".lock").exists()  # left behind by the kill, and yet:
    lock = FolderLock(out).acquire()
    assert (out / ".lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_results_through_a_symlink_are_refused_and_the_target_is_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("precious\ntorn", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").symlink_to(target)
    with pytest.raises(UsageError) as info:
        run_batch([BatchItem("a", 1)], lambda item: {"v": 1}, results=out / "results.jsonl", progress=False)
    assert info.value.code == "E007"
    assert target.read_text() == "precious\ntorn"
    with pytest.raises(UsageError):
        RowWriter(out / "results.jsonl")


# --- hypothesis: valid shape, hostile values --------------------------------------------------------

hostile_numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30),
                            st.floats(allow_nan=True, allow_infinity=True), st.just(0), st.just(-1))
names = st.one_of(st.sampled_from(["a", "b", "x", "seed", "a b", "a\nb", "", "ä", "1a", "mug"]),
                  st.text(max_size=8))


@st.composite
def hostile_scenes(draw):
    groups = draw(st.lists(st.fixed_dictionaries({"name": names, "phrase": st.text(max_size=10)}, optional={
        "count": st.one_of(hostile_numbers, st.fixed_dictionaries({"min": hostile_numbers, "max": hostile_numbers})),
        "aspect": hostile_numbers, "size": st.one_of(hostile_numbers, st.sampled_from(["small", "huge", "nope"])),
        "at": st.lists(hostile_numbers, max_size=5), "color": st.sampled_from(["red", "nope", ""]),
        "attributes": st.dictionaries(st.text(max_size=3), hostile_numbers, max_size=2)}), max_size=5))
    group_names = [g["name"] for g in groups] or ["a"]
    ref = st.fixed_dictionaries({"group": st.sampled_from(group_names)}, optional={"index": hostile_numbers})
    statements = draw(st.lists(st.fixed_dictionaries(
        {"subject": ref, "predicate": st.sampled_from(["left_of", "between", "above", "inside", "nope"]),
         "objects": st.lists(ref, max_size=3)},
        optional={"weight": hostile_numbers, "hard": st.booleans()}), max_size=4))
    scene = {"groups": groups, "statements": statements}
    scene.update(draw(st.fixed_dictionaries({}, optional={
        "canvas": st.lists(hostile_numbers, max_size=3), "seed": hostile_numbers,
        "requirements": st.lists(st.fixed_dictionaries({"target": st.sampled_from(group_names),
                                                        "op": st.sampled_from(["==", "=~"]),
                                                        "value": hostile_numbers}), max_size=2)})))
    return scene


@given(hostile_scenes())
def test_random_scene_json_never_gives_an_internal_error(data):
    text = json.dumps(data, allow_nan=True)
    try:
        scene = Scene.from_json(text)
    except SceneError as err:
        assert err.code.startswith("E") and err.exit_code == 3
        return
    # what is accepted is a scene every stage can take: expanded, written, read back
    assert len(scene.instances()) <= MAX_INSTANCES and len(scene.relations()) <= MAX_RELATIONS
    assert Scene.from_json(scene.to_json()) == scene
    from compose.language import format_scene, parse_program

    assert parse_program(format_scene(scene)) == scene
    assert all(math.isfinite(st_.weight) for st_ in scene.statements)


# --- orphans and SIGTERM (slow: they start real worker processes) -----------------------------------

def children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False).stdout
    return {int(p) for p in out.split()}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_parallel_run(tmp_path: Path, n: int = 40):
    spec = spec_file(tmp_path, n)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "compose", "generate-batch", str(spec), "-o", str(out),
                             "--backbone", "procedural", "--workers", "2", "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_rows(out / "results.jsonl")) < 2:
        time.sleep(0.2)
    workers = children_of(proc.pid)
    assert workers, "no worker processes started"
    return proc, out, workers


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_driver(tmp_path, sig):
    proc, out, workers = start_parallel_run(tmp_path)
    os.kill(proc.pid, sig)
    code = proc.wait(60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(alive(w) for w in workers), "orphaned workers"
    if sig == signal.SIGTERM:
        assert code == 143, proc.stderr.read().decode()
        rows = read_rows(out / "results.jsonl")
        assert rows and len({r["id"] for r in rows}) == len(rows)  # flushed, none twice
        assert (out / "results.jsonl").read_bytes().endswith(b"\n")  # no torn line
