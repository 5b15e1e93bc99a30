"""``compose verify`` and ``compose verify-batch``: exit codes, reports, GenEval's layout, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compose.batch import read_rows
from compose.cli.main import main
from compose.layouts import Layout, Region
from compose.world.draw import render_layout

SCENE = 'object circle "red circles" count 2 color red\nobject square "a blue square" color blue\ncircle left of square\n'


def _layout(size: int = 64) -> Layout:
    def region(shape, color):
        return Region(phrase=f"a {color} {shape}", attributes={"color": color}, **{"class": shape})
    return Layout(canvas=(size, size), boxes={"circle#0": (0.05, 0.1, 0.25, 0.3), "circle#1": (0.05, 0.6, 0.25, 0.8),
                                              "square#0": (0.6, 0.3, 0.9, 0.6)},
                  objects={"circle#0": region("circle", "red"), "circle#1": region("circle", "red"),
                           "square#0": region("square", "blue")})


@pytest.fixture()
def files(tmp_path):
    lay = _layout()
    render_layout(lay).image.save(tmp_path / "img.png")
    (tmp_path / "lay.json").write_text(lay.to_json())
    (tmp_path / "ok.scene").write_text(SCENE)
    (tmp_path / "three.scene").write_text(SCENE.replace("count 2", "count 3"))
    return tmp_path


def test_verify_exit_codes_json_and_html(files, capsys):
    assert main(["verify", str(files / "ok.scene"), str(files / "img.png"), "--layout", str(files / "lay.json"),
                 "--json", "--html", str(files / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True and all({"kind", "passed", "score", "reason"} <= set(c) for c in data["checks"])
    assert (files / "out" / "img.html").read_text().count("<tr class='pass'>") == len(data["checks"])
    assert main(["verify", str(files / "three.scene"), str(files / "img.png"), "--json"]) == 6
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passed"] is False and "E501" in captured.err
    assert main(["verify", str(files / "ok.scene"), str(files / "missing.png")]) == 2
    assert "E502" in capsys.readouterr().err
    assert main(["verify", str(files / "ok.scene"), str(files / "img.png"), "--detector", "nope"]) == 5
    assert "E503" in capsys.readouterr().err


def test_verify_batch_items_with_error_rows_and_resume(files, capsys):
    (files / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    items = [{"id": "a", "scene": "ok.scene", "image": "img.png", "layout": "lay.json", "tag": "mine"},
             {"id": "b", "program": SCENE.replace("count 2", "count 3"), "images": ["img.png", "bad.png", "gone.png"], "tag": "mine"},
             {"id": "g", "metadata": {"tag": "counting", "prompt": "two circles", "include": [{"class": "circle", "count": 2}],
                                      "exclude": [{"class": "circle", "count": 3}]}, "image": "img.png"}]
    (files / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    out = files / "batch"
    args = ["verify-batch", "--items", str(files / "items.jsonl"), "--out", str(out), "--no-progress"]
    assert main(args + ["--limit", "2"]) == 0
    assert [r["id"] for r in read_rows(out / "results.jsonl")] == ["a", "b/0"]
    assert main(args) == 0
    rows = read_rows(out / "results.jsonl")
    assert [r["id"] for r in rows] == ["a", "b/0", "b/1", "b/2", "g"]
    assert [r["correct"] for r in rows] == [True, False, False, False, True]
    assert rows[2]["error"]["code"] == "E502" and rows[3]["error"]["code"] == "E502"
    geneval = read_rows(out / "geneval_results.jsonl")
    assert len(geneval) == 5 and set(geneval[0]) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tags"]["mine"] == {"correct": 1, "total": 4, "accuracy": 0.25}
    assert summary["overall"] == pytest.approx((0.25 + 1.0) / 2)
    assert "Overall score (avg. over tasks): 0.62500" in capsys.readouterr().out


def _geneval_folder(root: Path, n_prompts: int, per_prompt: int, size: int = 64) -> None:
    """GenEval's layout for the embedded world: <index>/metadata.jsonl and <index>/samples/<k>.png."""
    image = render_layout(_layout(size)).image
    metas = [{"tag": "counting", "prompt": "two circles", "include": [{"class": "circle", "count": 2}],
              "exclude": [{"class": "circle", "count": 3}]},
             {"tag": "position", "prompt": "a square left of a circle", "include": [
                 {"class": "circle", "count": 1}, {"class": "square", "count": 1, "position": ["left of", 0]}]},
             {"tag": "colors", "prompt": "a blue square", "include": [{"class": "square", "count": 1, "color": "blue"}]}]
    for i in range(n_prompts):
        folder = root / f"{i:05d}"
        (folder / "samples").mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(json.dumps(metas[i % 3]) + "\n")
        for k in range(per_prompt):
            image.save(folder / "samples" / f"{k:04d}.png")


def test_verify_batch_reads_genevals_layout(tmp_path, capsys):
    _geneval_folder(tmp_path / "images", 3, 2)
    out = tmp_path / "out"
    assert main(["verify-batch", "--geneval", str(tmp_path / "images"), "--out", str(out), "--no-progress", "--html"]) == 0
    rows = read_rows(out / "geneval_results.jsonl")
    assert [(r["tag"], r["correct"]) for r in rows] == [("counting", True)] * 2 + [("position", False)] * 2 + [("colors", True)] * 2
    assert "expected square left of" not in rows[2]["reason"] and "square#0 is not left of circle#0" in rows[2]["reason"]
    summary = capsys.readouterr().out
    assert "position         = 0.00% (0 / 2)" in summary and "Overall score (avg. over tasks): 0.66667" in summary
    index = (out / "index.html").read_text()
    assert "pages/00000/0000.png/report.html" in index and (out / "pages" / "00000" / "0000.png" / "report.html").exists()


def _kill_and_resume(tmp_path: Path, n_prompts: int, per_prompt: int, kill_after: int, size: int,
                     engine: tuple[str, ...] = ()) -> None:
    _geneval_folder(tmp_path / "images", n_prompts, per_prompt, size)
    out = tmp_path / "out"
    command = [sys.executable, "-c", "import sys; from compose.cli.main import main; sys.exit(main(sys.argv[1:]))", "verify-batch", "--geneval", str(tmp_path / "images"),
               "--out", str(out), "--no-progress", *engine]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # a session of its own, so the kill takes the worker processes with it
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= kill_after:
            break
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(read_rows(results))
    total = n_prompts * per_prompt
    assert kill_after <= before < total, "the kill must land mid-run"
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    ids = [r["id"] for r in read_rows(results)]
    assert len(ids) == total and len(set(ids)) == total
    geneval = read_rows(out / "geneval_results.jsonl")
    assert sorted(r["filename"] for r in geneval) == sorted({r["image"] for r in read_rows(results)})
    assert len(geneval) == total


def test_verify_batch_killed_midway_resumes_without_duplicates_or_losses(tmp_path):
    _kill_and_resume(tmp_path, n_prompts=10, per_prompt=3, kill_after=8, size=256)


def test_verify_batch_on_two_workers_killed_midway_resumes_exactly_once(tmp_path):
    _kill_and_resume(tmp_path, n_prompts=12, per_prompt=3, kill_after=6, size=256, engine=("--workers", "2"))


@pytest.mark.slow
def test_a_batch_of_1000_killed_halfway_resumes_exactly_once(tmp_path):
    _kill_and_resume(tmp_path, n_prompts=250, per_prompt=4, kill_after=500, size=128)
