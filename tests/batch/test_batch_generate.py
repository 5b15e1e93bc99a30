"""compose generate-batch: spec errors, the shared runner (resume, retry, atomic item folders),
the local and Ray engines giving the same output, and a run killed halfway then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compose.batch import BatchItem, ItemOutput, latest_rows, read_rows, run_batch
from compose.batch.engines import get_engine
from compose.batch.engines.local import LocalEngine
from compose.batch.generate import generate_batch, read_spec
from compose.cli.main import main
from compose.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]

#: Small scene programs the procedural backbone draws in well under a second each.
PROGRAMS = [
    'object square "a red square" color red\nobject circle "a blue circle" color blue\nsquare left of circle\n',
    'object star "a star" count 3\n',
    'object diamond "a diamond"\nobject cross "a cross"\ndiamond above cross\n',
    'object triangle "a green triangle" color green\n',
    'object circle "a circle" count 2\nobject square "a square"\ncircle left of square\n',
    'object cross "a yellow cross" color yellow\nobject star "a star"\nstar right of cross\n',
]
SYNTAX_ERROR = 'object square "a square"\nsquare left of\n'
IMPOSSIBLE = 'object a "a square" class "square"\nobject b "a star" class "star"\na left of b\nb left of a\n'


def write_spec(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def program_spec(tmp_path: Path, n: int, *, extra: list[dict] | None = None, **common) -> Path:
    lines = [{"id": f"item{i}", "program": PROGRAMS[i % len(PROGRAMS)], "seed": i, **common} for i in range(n)]
    return write_spec(tmp_path / "spec.jsonl", lines + (extra or []))


def comparable(row: dict) -> dict:
    """A row without what depends on the machine's speed."""
    return {k: v for k, v in row.items() if k != "timings"}


# --- the spec --------------------------------------------------------------------------------

@pytest.mark.parametrize("line, reason", [
    ("not json", "not JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"seed": 1}', "exactly one of 'prompt', 'program' or 'scene'"),
    ('{"prompt": "a star", "program": "object a \\"a\\"\\n"}', "exactly one of"),
    ('{"prompt": ""}', "'prompt' must be a non-empty string"),
    ('{"prompt": "a star", "id": "../escape"}', "'id' '../escape'"),
    ('{"prompt": "a star", "seed": -1}', "'seed' must be a whole number"),
    ('{"prompt": "a star", "max_rounds": 1.5}', "'max_rounds' must be a whole number"),
    ('{"prompt": "a star", "promt": "typo"}', "unknown key(s) 'promt'"),
])
def test_a_bad_spec_line_is_e601_naming_the_line(tmp_path, line, reason):
    spec = tmp_path / "spec.jsonl"
    spec.write_text('{"prompt": "a star"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        read_spec(spec)
    assert info.value.code == "E601"
    assert "line 3 of" in info.value.message and reason in info.value.message


def test_spec_ids_default_to_line_numbers_and_must_be_unique(tmp_path):
    spec = write_spec(tmp_path / "spec.jsonl", [{"prompt": "a star"}, {"id": "x", "scene": "s.scene"}])
    items = read_spec(spec)
    assert [i.id for i in items] == ["1", "x"]
    assert items[1].payload["scene"] == str(tmp_path / "s.scene")  # relative to the spec file
    write_spec(spec, [{"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}])
    with pytest.raises(UsageError, match="already used on line 1"):
        read_spec(spec)


def test_cli_reports_spec_and_engine_errors_with_codes(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a star"}\n{"oops": 1}\n', encoding="utf-8")
    assert main(["generate-batch", str(bad), "-o", str(tmp_path / "out")]) == 2
    assert "error[E601]" in capsys.readouterr().err
    good = program_spec(tmp_path, 1)
    assert main(["generate-batch", str(good), "-o", str(tmp_path / "out"), "--engine", "spark"]) == 2
    assert "error[E602]: unknown engine 'spark'; expected one of local, ray" in capsys.readouterr().err


def test_ray_engine_without_ray_is_e603_with_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when ray is not installed
    spec = program_spec(tmp_path, 1)
    assert main(["generate-batch", str(spec), "-o", str(tmp_path / "out"), "--engine", "ray",
                 "--backbone", "procedural"]) == 2
    err = capsys.readouterr().err
    assert "error[E603]" in err and 'pip install "compose-scenes[ray]"' in err
    assert not (tmp_path / "out" / "results.jsonl").exists() or not read_rows(tmp_path / "out" / "results.jsonl")


# --- the shared runner -----------------------------------------------------------------------

class Flaky:
    """Squares payloads; fails on the ids in ``fail`` (a picklable task with a setup)."""

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.ready = False

    def setup(self):
        self.ready = True

    def __call__(self, item):
        assert self.ready, "setup() runs before the first item"
        if item.id in self.fail:
            raise UsageError("E006", argument="payload", value=item.payload, expected="anything else")
        return ItemOutput({"square": item.payload ** 2}, {"value.txt": str(item.payload).encode()})


def test_runner_retries_only_error_rows_and_the_latest_row_wins(tmp_path):
    items = [BatchItem(str(i), i) for i in range(6)]
    results, files = tmp_path / "rows.jsonl", tmp_path / "items"
    first = run_batch(items, Flaky(fail={"2", "4"}), results=results, files_dir=files, progress=False)
    assert (first.done_now, first.errors) == (6, 2)
    assert sorted(p.name for p in files.iterdir()) == ["0", "1", "3", "5"]
    again = run_batch(items, Flaky(), results=results, files_dir=files, progress=False)
    assert again.done_now == 0  # resumed: nothing left to do
    retried = run_batch(items, Flaky(), results=results, files_dir=files, progress=False,
                        retry=lambda row: "error" in row)
    assert (retried.done_now, retried.errors) == (2, 0)
    rows = read_rows(results)
    assert len(rows) == 8  # append-only: the error rows stay, newer rows follow
    latest = latest_rows(rows)
    assert [latest[str(i)]["square"] for i in range(6)] == [i * i for i in range(6)]
    assert (files / "4" / "value.txt").read_text() == "4"


def test_runner_removes_half_written_folders_and_a_torn_last_row(tmp_path):
    results, files = tmp_path / "rows.jsonl", tmp_path / "items"
    (files / ".tmp-3-999").mkdir(parents=True)
    (files / ".tmp-3-999" / "value.txt").write_text("half")
    results.write_text('{"id": "0", "square": 0}\n{"id": "1", "squ', encoding="utf-8")
    stats = run_batch([BatchItem(str(i), i) for i in range(4)], Flaky(), results=results, files_dir=files,
                      progress=False)
    assert stats.done_before == 1 and stats.done_now == 3
    assert sorted(p.name for p in files.iterdir()) == ["1", "2", "3"]
    assert [r["id"] for r in read_rows(results)] == ["0", "1", "2", "3"]


def test_engine_workers_must_be_positive():
    with pytest.raises(UsageError, match="workers"):
        LocalEngine(workers=0)
    with pytest.raises(UsageError, match="E602"):
        get_engine("threads")


# --- generating ------------------------------------------------------------------------------

def test_failing_items_do_not_stop_the_others_and_are_retried_on_request(tmp_path):
    spec = program_spec(tmp_path, 3, extra=[{"id": "syntax", "program": SYNTAX_ERROR},
                                            {"id": "impossible", "program": IMPOSSIBLE}], max_rounds=0)
    out = tmp_path / "out"
    summary = generate_batch(spec, out, backbone="procedural", progress=False)
    assert (summary["done"], summary["errors"], summary["pending"]) == (5, 2, 0)
    assert summary["passed"] + summary["failed"] == 3
    rows = {r["id"]: r for r in read_rows(out / "results.jsonl")}
    assert rows["syntax"]["status"] == "error" and rows["syntax"]["error"]["code"] == "E101"
    assert rows["impossible"]["status"] == "error" and rows["impossible"]["error"]["code"] == "E301"
    for i in range(3):
        row = rows[f"item{i}"]
        assert row["status"] in ("ok", "failed") and row["seed"] == i and row["backbone"] == "procedural"
        folder = out / row["dir"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(Path(p).name for p in row["paths"].values())
        assert json.loads((folder / "run.json").read_text())["seed"] == i
    assert json.loads((out / "summary.json").read_text())["errors"] == 2

    resumed = generate_batch(spec, out, backbone="procedural", progress=False)
    assert resumed["done_now"] == 0 and resumed["done"] == 5
    retried = generate_batch(spec, out, backbone="procedural", progress=False, retry_failed=True)
    assert retried["done_now"] == 2 and retried["errors"] == 2  # the same bad programs fail again
    assert len(read_rows(out / "results.jsonl")) == 7


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny embedded model trained for two steps, exported with its checksum (as the world tests do)."""
    from compose.world.train import TrainConfig, Trainer, export_weights

    out = tmp_path_factory.mktemp("tiny-embedded")
    model = {"sample_size": 64, "patch": 4, "block_out_channels": [8, 16], "layers_per_block": 1,
             "norm_num_groups": 4, "attention_head_dim": 8, "attention": False}
    config = TrainConfig(steps=2, batch_size=2, checkpoint_every=2, log_every=1, warmup=2, threads=1, model=model)
    Trainer(config, out, device="cpu").run(progress=False)
    weights = out / "tiny.safetensors"
    weights.with_suffix(".sha256").write_text(export_weights(out, weights) + "\n")
    return weights


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray extra (pip install -e '.[dev]' installs it)")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


def same_files(a: Path, b: Path, rows: dict[str, dict]) -> None:
    """The images, scenes and layouts of every item are equal byte for byte; reports up to their timings."""
    for item_id, row in rows.items():
        for name, rel in row.get("paths", {}).items():
            if name.endswith((".png", ".scene")) or name == "layout.json":
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), (item_id, name)
            elif name == "report.json":
                reports = [json.loads((root / rel).read_text()) for root in (a, b)]
                for report in reports:
                    report.pop("timings")
                assert reports[0] == reports[1], (item_id, name)


@pytest.mark.parametrize("backbone", ["procedural", pytest.param("embedded", marks=pytest.mark.slow)])
def test_ray_engine_output_equals_the_local_engines_item_for_item(tmp_path, local_ray, backbone, request):
    lines = [{"id": f"i{i}", "program": PROGRAMS[i], "seed": i, "max_rounds": 1} for i in range(2)]
    lines += [{"id": "p", "program": PROGRAMS[3], "seed": 7, "backbone": "procedural"},
              {"id": "bad", "program": SYNTAX_ERROR}]
    spec = write_spec(tmp_path / "spec.jsonl", lines)
    options = {}
    if backbone == "embedded":  # a real torch model: its numbers depend on the thread count, pinned to 1
        options = {"weights": str(request.getfixturevalue("tiny_weights")), "steps": 2}
    local = generate_batch(spec, tmp_path / "local", backbone=backbone, backbone_options=options, threads=1,
                           progress=False)
    on_ray = generate_batch(spec, tmp_path / "ray", engine="ray", workers=2, backbone=backbone,
                            backbone_options=options, threads=1, progress=False)
    assert on_ray["engine"] == "ray, 2 actor(s), 1 thread(s) each"
    assert {k: local[k] for k in ("done", "passed", "failed", "errors")} == \
           {k: on_ray[k] for k in ("done", "passed", "failed", "errors")} and local["errors"] == 1
    local_rows = {r["id"]: comparable(r) for r in read_rows(tmp_path / "local" / "results.jsonl")}
    ray_rows = {r["id"]: comparable(r) for r in read_rows(tmp_path / "ray" / "results.jsonl")}
    assert local_rows == ray_rows and len(local_rows) == 4
    same_files(tmp_path / "local", tmp_path / "ray", local_rows)


def sleepy(item):
    if item.payload == "slow":
        time.sleep(60)
    return {"ok": True}


def test_ray_engine_stops_an_item_past_its_time_limit_and_goes_on(tmp_path, local_ray):
    from ray import cloudpickle

    from compose.batch.engines.ray import RayEngine

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import tests/
    started = time.monotonic()
    engine = RayEngine(workers=1, threads=1, item_timeout=1.0)
    stats = run_batch([BatchItem("a", "slow"), BatchItem("b", "fast")], sleepy, results=tmp_path / "r.jsonl",
                      engine=engine, progress=False)
    rows = {r["id"]: r for r in read_rows(tmp_path / "r.jsonl")}
    # one actor: the fast item waited behind the slow one, so the actor survived the timeout
    assert time.monotonic() - started < 45 and stats.errors == 1
    assert rows["a"]["error"]["code"] == "E607" and rows["b"]["ok"] is True


def run_cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "compose", "generate-batch", *args, "--no-progress"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def kill_after_rows(spec: Path, out: Path, rows: int, extra: list[str]) -> None:
    """Start the command, wait until ``rows`` rows are on disk, then SIGKILL it and its workers."""
    proc = run_cli([str(spec), "-o", str(out), "--backbone", "procedural", *extra])
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    try:
        while len(read_rows(results)) < rows:
            assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no progress within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: the command and any worker processes
        proc.wait()


def assert_every_item_exactly_once(out: Path, ids: list[str]) -> None:
    rows = read_rows(out / "results.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(ids)
    for row in rows:
        assert row["status"] in ("ok", "failed"), row
        assert (out / row["image"]).is_file()
    assert sorted(p.name for p in (out / "items").iterdir()) == sorted(ids)  # no half-written folders left


def test_a_run_killed_halfway_and_resumed_produces_every_item_exactly_once(tmp_path):
    spec = program_spec(tmp_path, 6, max_rounds=0)
    out = tmp_path / "out"
    kill_after_rows(spec, out, 2, [])
    done_before = len(read_rows(out / "results.jsonl"))
    assert 2 <= done_before < 6
    proc = run_cli([str(spec), "-o", str(out), "--backbone", "procedural"])
    assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()[-2000:]
    assert_every_item_exactly_once(out, [f"item{i}" for i in range(6)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done_before"] == done_before and summary["done_now"] == 6 - done_before


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_parallel_run_killed_halfway_and_resumed_produces_every_item_exactly_once(tmp_path, engine):
    if engine == "ray":
        pytest.importorskip("ray")
    spec = program_spec(tmp_path, 12, max_rounds=0)
    out = tmp_path / "out"
    extra = ["--engine", engine, "--workers", "2"]
    kill_after_rows(spec, out, 4, extra)
    proc = run_cli([str(spec), "-o", str(out), "--backbone", "procedural", *extra])
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    assert_every_item_exactly_once(out, [f"item{i}" for i in range(12)])


@pytest.mark.slow
def test_local_worker_processes_give_the_same_output_as_one_process(tmp_path, tiny_weights):
    spec = write_spec(tmp_path / "spec.jsonl", [{"id": f"e{i}", "program": PROGRAMS[i], "seed": i} for i in range(4)])
    options = {"weights": str(tiny_weights), "steps": 2}
    one = generate_batch(spec, tmp_path / "one", backbone_options=options, threads=1, progress=False)
    two = generate_batch(spec, tmp_path / "two", workers=2, backbone_options=options, threads=1, progress=False)
    assert one["done"] == two["done"] == 4
    rows_one = {r["id"]: comparable(r) for r in read_rows(tmp_path / "one" / "results.jsonl")}
    rows_two = {r["id"]: comparable(r) for r in read_rows(tmp_path / "two" / "results.jsonl")}
    assert rows_one == rows_two
    same_files(tmp_path / "one", tmp_path / "two", rows_one)
