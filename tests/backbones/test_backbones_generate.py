"""Every diffusers backbone runs the whole loop through ``compose generate`` (2 steps, one repaint
round) on tiny random checkpoints: ``--model`` on the command line, the rest from a
``backbones.toml`` named by ``$COMPOSE_BACKBONES_CONFIG``."""

from __future__ import annotations

import json

import pytest

from compose.cli.main import main

SCENE = 'object cube "a red cube" color red\nobject ball "a blue ball" color blue\ncube left of ball\n'
CASES = {  # backbone -> (fixture with its folder, extra config lines)
    "sd-gligen": ("tiny_gligen", ""),
    "sd-regional": ("tiny_sd", ""),
    "sdxl-regional": ("tiny_sdxl", ""),
    "sd3-regional": ("tiny_sd3", "max_sequence_length = 16\n"),
    "flux-regional": ("tiny_flux", "max_sequence_length = 16\n"),
    "sd-controlnet-seg": ("tiny_controlnet", ""),
}


@pytest.mark.parametrize("backbone", list(CASES))
def test_generate_runs_the_loop_with_backbone(backbone, request, tmp_path, monkeypatch):
    fixture, extra = CASES[backbone]
    folder = request.getfixturevalue(fixture)
    if backbone == "sd-controlnet-seg":
        folder, controlnet = folder
        extra += f'controlnet = "{controlnet}"\n'
    config = tmp_path / "backbones.toml"
    config.write_text(f"[{backbone}]\nresolution = 32\n{extra}", encoding="utf-8")
    monkeypatch.setenv("COMPOSE_BACKBONES_CONFIG", str(config))
    scene = tmp_path / "two.scene"
    scene.write_text(SCENE, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["generate", str(scene), "--backbone", backbone, "--model", str(folder),
                 "--device", "cpu", "--dtype", "fp32", "--steps", "2", "--detector", "world",
                 "--max-rounds", "1", "-o", str(out)])
    assert code in (0, 6)  # passed, or verification failed (random weights draw no cubes)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["backbone"] == backbone
    assert (out / "image.png").is_file() and (out / "round-0.png").is_file()
    if code == 6:  # a failing first round was repainted once
        assert len(run["rounds"]) == 2 and (out / "round-1.png").is_file()
