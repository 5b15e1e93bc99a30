"""verify-batch on engines, with GenEval's protocol, with detections from a file, on prompt-named
folders, and its index.html in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from compose.batch import read_rows
from compose.cli.main import main
from compose.verification.coco import encode_rle
from compose.verification.evaluation import separated_layouts
from compose.world.draw import render_layout

pytest.importorskip("transformers")

from tests.verification.test_verify_mask2former import build_mask2former


def _world_folder(root: Path, n: int, per: int = 2) -> None:
    """GenEval's layout with varied renders of the embedded world and metadata about them."""
    for i, lay in enumerate(separated_layouts(n, seed=5)):
        regions = list(lay.objects.values())
        first = regions[0]
        kind = i % 3
        if kind == 0:
            meta = {"tag": "single_object", "prompt": f"a {first.class_name}",
                    "include": [{"class": first.class_name, "count": 1}]}
        elif kind == 1:
            meta = {"tag": "colors", "prompt": f"a {first.attributes['color']} {first.class_name}",
                    "include": [{"class": first.class_name, "count": 1, "color": first.attributes["color"]}]}
        else:
            meta = {"tag": "counting", "prompt": f"two {first.class_name}s",
                    "include": [{"class": first.class_name, "count": 2}], "exclude": [{"class": first.class_name, "count": 3}]}
        folder = root / f"{i:05d}"
        (folder / "samples").mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(json.dumps(meta) + "\n")
        for k in range(per):
            render_layout(lay.model_copy(update={"seed": k})).image.save(folder / "samples" / f"{k:04d}.png")


def _sorted_rows(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in read_rows(path))


def test_ray_rows_equal_local_rows(tmp_path):  # about 11 s, most of it starting Ray
    pytest.importorskip("ray")
    _world_folder(tmp_path / "images", 6)
    outs = {}
    for name, extra in (("local1", []), ("local2", ["--workers", "2"]), ("ray", ["--engine", "ray", "--workers", "2"])):
        outs[name] = tmp_path / name
        assert main(["verify-batch", "--geneval", str(tmp_path / "images"), "--out", str(outs[name]), "--no-progress",
                     "--threads", "1", *extra]) == 0
    base = outs["local1"]
    assert len(read_rows(base / "results.jsonl")) == 12
    for name in ("local2", "ray"):
        assert _sorted_rows(outs[name] / "results.jsonl") == _sorted_rows(base / "results.jsonl"), name
        for file in ("geneval_results.jsonl", "summary.json", "summary.txt"):
            assert (outs[name] / file).read_bytes() == (base / file).read_bytes(), (name, file)


def test_two_local_workers_equal_one(tmp_path):
    _world_folder(tmp_path / "images", 3)
    for name, extra in (("one", []), ("two", ["--workers", "2"])):
        assert main(["verify-batch", "--geneval", str(tmp_path / "images"), "--out", str(tmp_path / name),
                     "--no-progress", "--threads", "1", *extra]) == 0
    assert _sorted_rows(tmp_path / "two" / "results.jsonl") == _sorted_rows(tmp_path / "one" / "results.jsonl")
    for file in ("geneval_results.jsonl", "summary.json"):
        assert (tmp_path / "two" / file).read_bytes() == (tmp_path / "one" / file).read_bytes()


def _coco_entry(image, name, box, score, mask_shape=None):
    x0, y0, x1, y1 = box
    entry = {"image_id": image, "category": name, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}
    if mask_shape is not None:
        mask = np.zeros(mask_shape, bool)
        mask[y0:y1, x0:x1] = True
        entry["segmentation"] = encode_rle(mask)
    return entry


def test_geneval_protocol_on_a_detections_file(tmp_path, clip_folder):
    from PIL import Image

    metas = [{"tag": "counting", "prompt": "three cats", "include": [{"class": "cat", "count": 3}],
              "exclude": [{"class": "cat", "count": 4}]},
             {"tag": "position", "prompt": "a dog left of a cat", "include": [{"class": "cat", "count": 1},
                                                                              {"class": "dog", "count": 1, "position": ["left of", 0]}]},
             {"tag": "colors", "prompt": "a red cup", "include": [{"class": "cup", "count": 1, "color": "red"}]}]
    entries = []
    for i, meta in enumerate(metas):
        (tmp_path / "g" / f"{i:05d}" / "samples").mkdir(parents=True)
        (tmp_path / "g" / f"{i:05d}" / "metadata.jsonl").write_text(json.dumps(meta) + "\n")
        for k in range(2):
            Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "g" / f"{i:05d}" / "samples" / f"{k:04d}.png")
    # counting: sample 0 has three cats above 0.9, sample 1 has two above 0.9 and one at 0.8
    for k, scores in enumerate(([0.95, 0.93, 0.91], [0.95, 0.93, 0.8])):
        entries += [_coco_entry(f"00000/{k:04d}.png", "cat", (j * 20, 0, j * 20 + 10, 10), s) for j, s in enumerate(scores)]
    # position: sample 0 has the dog clearly left, sample 1 right
    for k, dog_x in enumerate((0, 50)):
        entries += [_coco_entry(f"00001/{k:04d}.png", "cat", (25, 20, 35, 30), 0.8),
                    _coco_entry(f"00001/{k:04d}.png", "dog", (dog_x, 20, dog_x + 10, 30), 0.7)]
    entries += [_coco_entry("00002/0000.png", "cup", (10, 10, 30, 30), 0.9, (48, 64))]
    (tmp_path / "dets.json").write_text(json.dumps(entries))
    out = tmp_path / "out"
    assert main(["verify-batch", "--geneval", str(tmp_path / "g"), "--out", str(out), "--no-progress",
                 "--protocol", "geneval", "--detections", str(tmp_path / "dets.json"), "--clip-model", str(clip_folder)]) == 0
    rows = read_rows(out / "geneval_results.jsonl")
    assert [r["correct"] for r in rows[:4]] == [True, False, True, False]
    assert rows[5]["correct"] is False and rows[5]["reason"] == "expected cup>=1, found 0"
    assert json.loads(rows[0]["details"])["cat"][0] == [0.0, 0.0, 10.0, 10.0, 0.95]
    assert rows[4]["reason"] == "" or "expected red cup" in rows[4]["reason"]  # the tiny CLIP picks some color
    assert all(set(r) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"} for r in rows)
    ours = read_rows(out / "results.jsonl")
    assert all(r["protocol"] == "geneval" for r in ours)


def test_geneval_protocol_with_the_mask2former_detector(tmp_path, clip_folder):
    from PIL import Image

    model = build_mask2former(tmp_path / "m2f")
    (tmp_path / "g" / "00000" / "samples").mkdir(parents=True)
    meta = {"tag": "color_attr", "prompt": "a red cat and a blue dog",
            "include": [{"class": "cat", "count": 1, "color": "red"}, {"class": "dog", "count": 1, "color": "blue"}]}
    (tmp_path / "g" / "00000" / "metadata.jsonl").write_text(json.dumps(meta) + "\n")
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((48, 80, 3)) * 255).astype(np.uint8)).save(tmp_path / "g" / "00000" / "samples" / "0000.png")
    out = tmp_path / "out"
    assert main(["verify-batch", "--geneval", str(tmp_path / "g"), "--out", str(out), "--no-progress", "--protocol", "geneval",
                 "--model", str(model), "--clip-model", str(clip_folder)]) == 0
    (row,) = read_rows(out / "geneval_results.jsonl")
    assert row["tag"] == "color_attr" and isinstance(row["correct"], bool)
    # the same verdict as the protocol run directly
    from compose.verification.color import ClipColorClassifier
    from compose.verification.detection import get_detector
    from compose.verification.geneval import GenevalProtocol

    direct = GenevalProtocol(get_detector("mask2former", model=str(model), threshold=0.0), ClipColorClassifier(str(clip_folder)))
    assert direct.evaluate(str(tmp_path / "g" / "00000" / "samples" / "0000.png"), meta) == row
    assert main(["verify-batch", "--items", str(_scene_items(tmp_path)), "--out", str(tmp_path / "o2"), "--no-progress",
                 "--protocol", "geneval", "--detections", str(tmp_path / "none.json")]) == 2  # E506: no such file


def _scene_items(tmp_path: Path) -> Path:
    (tmp_path / "items.jsonl").write_text(json.dumps({"prompt": "a cat", "image": "x.png"}) + "\n")
    return tmp_path / "items.jsonl"


def test_verify_with_detections_file(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (64, 64), (20, 20, 220)).save(tmp_path / "img.png")
    (tmp_path / "s.scene").write_text('object cup "a blue cup" count 2 color blue\n')
    dets = [_coco_entry("img.png", "cup", (0, 0, 20, 20), 0.9, (64, 64)), _coco_entry("img.png", "cup", (40, 40, 60, 60), 0.8, (64, 64))]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    assert main(["verify", str(tmp_path / "s.scene"), str(tmp_path / "img.png"), "--detections", str(tmp_path / "dets.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["detector"] == "given" and [d["color"] for d in report["detections"]] == ["blue", "blue"]
    (tmp_path / "dets.json").write_text(json.dumps(dets[:1]))
    assert main(["verify", str(tmp_path / "s.scene"), str(tmp_path / "img.png"), "--detections", str(tmp_path / "dets.json")]) == 6


def test_prompt_named_folder_with_categories_and_partial_prompts(tmp_path, capsys):
    from compose.layouts import Layout, Region

    def region(shape, color):
        return Region(phrase=f"a {color} {shape}", attributes={"color": color}, **{"class": shape})

    lay = Layout(canvas=(96, 96), boxes={"circle#0": (0.05, 0.3, 0.35, 0.6), "square#0": (0.6, 0.3, 0.9, 0.6)},
                 objects={"circle#0": region("circle", "red"), "square#0": region("square", "blue")})
    image = render_layout(lay).image
    (tmp_path / "color_val.txt").write_text("a red circle and a blue square\na green circle and a blue square\n")
    (tmp_path / "spatial_val.txt").write_text("a red circle on the left of a blue square\n"
                                              "a red circle and a blue square, the circle wistfully bigger than\n")
    (tmp_path / "img").mkdir()
    for name in ("a red circle and a blue square_000000", "a red circle and a blue square_000001",
                 "a green circle and a blue square_000000", "a red circle on the left of a blue square_000000",
                 "a red circle and a blue square, the circle wistfully bigger than_000000"):
        image.save(tmp_path / "img" / f"{name}.png")
    out = tmp_path / "out"
    assert main(["verify-batch", "--images", str(tmp_path / "img"), "--prompts", str(tmp_path / "color_val.txt"),
                 str(tmp_path / "spatial_val.txt"), "--out", str(out), "--no-progress"]) == 0
    rows = {r["id"]: r for r in read_rows(out / "results.jsonl")}
    assert len(rows) == 5 and {r["category"] for r in rows.values()} == {"color", "spatial"}
    partial = [r for r in rows.values() if r.get("read_in_part")]
    assert len(partial) == 1 and partial[0]["warnings"] and partial[0]["category"] == "spatial"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tags"]["color"] == {"correct": 2, "total": 3, "accuracy": 2 / 3}
    assert summary["tags"]["spatial"] == {"correct": 1, "total": 1, "accuracy": 1.0}
    assert summary["read_in_part"]["images"] == 1 and "not scored" in capsys.readouterr().err
    assert "read only in part" in (out / "index.html").read_text()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (apt-get install chromium)")
def test_index_page_in_headless_chromium(tmp_path):
    from tests.verification.test_verify_cli import _geneval_folder

    _geneval_folder(tmp_path / "images", 3, 2)
    out = tmp_path / "out"
    assert main(["verify-batch", "--geneval", str(tmp_path / "images"), "--out", str(out), "--no-progress"]) == 0
    rows = read_rows(out / "results.jsonl")
    failing = [r for r in rows if not r["correct"]]
    assert failing and len(failing) < len(rows)

    def dom(fragment: str) -> str:
        command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
                   "--virtual-time-budget=3000", "--dump-dom", (out / "index.html").as_uri() + fragment]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "HOME": str(tmp_path)})
        assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
        return done.stdout

    from html.parser import HTMLParser

    class Cards(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cards, self.shown, self._in_shown, self.bars = [], None, False, []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "card" in (a.get("class") or "").split():
                self.cards.append((a["data-id"], a["data-tag"], a["data-verdict"], "hidden" in a))
            if a.get("class") == "tagbar":
                self.bars.append(a["data-tag"])
            self._in_shown = a.get("id") == "shown"

        def handle_data(self, data):
            if self._in_shown:
                self.shown, self._in_shown = int(data), False

    everything = Cards()
    everything.feed(dom(""))
    assert len(everything.cards) == len(rows) and not any(c[3] for c in everything.cards)
    assert everything.bars == ["counting", "position", "colors"]
    verdicts = [c[2] for c in everything.cards]
    assert verdicts == sorted(verdicts, key=lambda v: v != "fail")  # the worst first
    filtered = Cards()
    filtered.feed(dom("#tag=position&verdict=fail"))
    visible = [c for c in filtered.cards if not c[3]]
    assert visible and all(c[1] == "position" and c[2] == "fail" for c in visible)
    assert filtered.shown == len(visible) == sum(1 for r in failing if r["tag"] == "position")
    page = (out / "index.html").read_text()
    assert page.count("class='box ") >= sum(len(r["detections"]) for r in rows) > 0


def test_missing_models_stop_the_batch_before_any_image(tmp_path, monkeypatch, capsys):
    from tests.verification.test_verify_cli import _geneval_folder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    _geneval_folder(tmp_path / "images", 3, 1)
    base = ["verify-batch", "--geneval", str(tmp_path / "images"), "--out", str(tmp_path / "out"), "--no-progress"]
    assert main([*base, "--protocol", "geneval"]) == 5
    assert "E504" in capsys.readouterr().err and not (tmp_path / "out" / "results.jsonl").exists()
    (tmp_path / "dets.json").write_text("[]")
    assert main([*base, "--protocol", "geneval", "--detections", str(tmp_path / "dets.json")]) == 5  # CLIP for colors
    assert "clip" in capsys.readouterr().err
    assert main([*base, "--detector", "nope"]) == 5
    assert "E503" in capsys.readouterr().err
