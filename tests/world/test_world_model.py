"""The embedded world's model: the shared masked sampler, training and resume, weights loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from compose.errors import BackboneError
from compose.layouts import Layout, Region
from compose.world.dataset import random_layout
from compose.world.train import TrainConfig, Trainer, export_weights

TINY_MODEL = {"sample_size": 64, "patch": 4, "block_out_channels": [8, 16], "layers_per_block": 1,
              "norm_num_groups": 4, "attention_head_dim": 8, "attention": False}


def tiny_config(**overrides) -> TrainConfig:
    base = {"steps": 4, "batch_size": 2, "checkpoint_every": 2, "log_every": 1, "warmup": 2, "threads": 1,
            "model": dict(TINY_MODEL)}
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny model trained for two steps and exported with its checksum beside it."""
    out = tmp_path_factory.mktemp("run")
    Trainer(tiny_config(steps=2), out, device="cpu").run(progress=False)
    weights = out / "tiny.safetensors"
    digest = export_weights(out, weights)
    weights.with_suffix(".sha256").write_text(digest + "\n")
    return weights


def tiny_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       layers_per_block=1, norm_num_groups=4)


@pytest.mark.parametrize("scheduler_name", ["DDIMScheduler", "DPMSolverMultistepScheduler"])
def test_sampler_keeps_known_pixels_outside_the_mask_and_changes_inside(scheduler_name):
    import diffusers

    from compose.backbones.sampling import sample

    unet = tiny_unet().eval()
    scheduler = getattr(diffusers, scheduler_name)(num_train_timesteps=1000)
    known = torch.rand(2, 3, 8, 8) * 2 - 1
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    x_T = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = sample(lambda x, t: unet(x, t).sample, scheduler, x_T, 6, known=known, mask=mask,
                     generator=torch.Generator().manual_seed(2))
    outside = (mask == 0).expand_as(known)
    assert torch.equal(out[outside], known[outside])
    inside = (mask == 1).expand_as(known)
    assert (out[inside] - known[inside]).abs().mean() > 0.05
    with torch.no_grad():
        free = sample(lambda x, t: unet(x, t).sample, scheduler, x_T, 6)
    assert free.shape == x_T.shape and torch.isfinite(free).all()


def test_sampler_rejects_mismatched_inputs():
    from diffusers import DDIMScheduler

    from compose.backbones.sampling import sample

    with pytest.raises(ValueError, match="known and mask"):
        sample(lambda x, t: x, DDIMScheduler(), torch.zeros(1, 3, 4, 4), 2, known=torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        sample(lambda x, t: x, DDIMScheduler(), torch.zeros(1, 3, 4, 4), 2, known=torch.zeros(1, 3, 2, 2),
               mask=torch.ones(1, 1, 2, 2))


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    from compose.world.train import optimizer_tensors

    tensors = {f"model.{k}": v for k, v in trainer.unet.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in trainer.ema.items()})
    tensors.update({f"opt.{k}": v for k, v in optimizer_tensors(trainer.optimizer)[0].items()})
    return tensors


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    straight = Trainer(tiny_config(), tmp_path / "straight", device="cpu")
    straight.run(progress=False)
    # the "killed" run stops after its step-2 checkpoint; a new process resumes from disk
    Trainer(tiny_config(steps=2), tmp_path / "killed", device="cpu").run(progress=False)
    resumed = Trainer(tiny_config(), tmp_path / "killed", device="cpu")
    assert resumed.load() and resumed.step == 2
    resumed.run(progress=False)
    assert resumed.step == straight.step == 4
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    losses = [json.loads(line) for line in (tmp_path / "killed" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in losses)
    files = {p.name for p in (tmp_path / "killed" / "checkpoint").iterdir()}
    assert files == {"model.safetensors", "ema.safetensors", "optimizer.safetensors", "state.json"}


def test_training_continues_from_exported_weights(tmp_path, tiny_weights):
    from safetensors.torch import load_file

    from compose.world.train import train

    trainer = train(tiny_config(steps=3), tmp_path / "more", device="cpu", progress=False, init=tiny_weights)
    assert trainer.step == 3 and trainer.warm_from == 2  # continues the step count (and the data stream)
    state = json.loads((tmp_path / "more" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3 and state["warm_from"] == 2
    # a second call resumes from the run's own checkpoint, not the exported weights
    again = Trainer(tiny_config(steps=3), tmp_path / "more", device="cpu")
    assert again.load() and again.step == 3
    started = Trainer(tiny_config(steps=2), tmp_path / "fresh", device="cpu")
    started.init_from_weights(tiny_weights)
    exported = load_file(str(tiny_weights))
    for key, value in started.unet.state_dict().items():
        assert torch.equal(value, exported[key].float()), key


def test_training_lowers_the_loss_on_a_fixed_batch():
    trainer = Trainer(tiny_config(lr=3e-3, warmup=1), "/nonexistent-not-written", device="cpu")
    torch.set_num_threads(1)
    first = trainer.train_step()
    for _ in range(15):
        trainer.step = 0  # the same batch and noise every time
        last = trainer.train_step()
    assert last < first


def test_embedded_backbone_renders_batches_and_repaints_inside_the_mask(tiny_weights):
    from compose.backbones.embedded import EmbeddedBackbone

    backbone = EmbeddedBackbone(tiny_weights, steps=3)
    layouts = [random_layout(1), random_layout(2)]
    result = backbone.render(layouts, seeds=[5, 6])
    assert [im.size for im in result.images] == [(64, 64), (64, 64)] and result.steps == 3
    alone = backbone.render([layouts[1]], seeds=[6]).images[0]
    diff = np.abs(np.asarray(alone, dtype=int) - np.asarray(result.images[1], dtype=int))
    assert diff.max() <= 2  # an image depends on its own seed, not on its batch
    image = Image.new("RGB", (64, 64), (10, 200, 30))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    out = np.asarray(backbone.repaint([image], [mask], [layouts[0]], seeds=[0]).images[0])
    keep = np.asarray(mask) == 0
    assert (out[keep] == (10, 200, 30)).all()
    assert np.abs(out[~keep].astype(int) - (10, 200, 30)).mean() > 5


def test_bad_checksum_is_e404_and_missing_weights_e403(tiny_weights, tmp_path):
    from compose.backbones.embedded import EmbeddedBackbone

    damaged = tmp_path / "damaged.safetensors"
    data = bytearray(tiny_weights.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    damaged.with_suffix(".sha256").write_text(tiny_weights.with_suffix(".sha256").read_text())
    with pytest.raises(BackboneError) as info:
        EmbeddedBackbone(damaged).render([random_layout(1)], seeds=[0])
    assert info.value.code == "E404" and info.value.exit_code == 5
    assert "checksum mismatch" in str(info.value) and "damaged" in str(info.value)
    with pytest.raises(BackboneError) as info:
        EmbeddedBackbone(tmp_path / "absent.safetensors").load()
    assert info.value.code == "E403"


def test_embedded_out_of_vocabulary_is_e402_before_loading(tmp_path):
    from compose.backbones.embedded import EmbeddedBackbone

    lay = Layout(canvas=(64, 64), boxes={"dog#0": (0.1, 0.1, 0.5, 0.5)},
                 objects={"dog#0": Region(phrase="a brown dog", **{"class": "dog"}, attributes={"color": "brown"})})
    with pytest.raises(BackboneError) as info:
        EmbeddedBackbone(tmp_path / "absent.safetensors").render([lay], seeds=[0])
    assert info.value.code == "E402" and "dog" in str(info.value) and "star" in str(info.value)


def test_render_command_with_a_layout_and_the_oov_exit_code(tmp_path):
    from compose.cli.main import main

    lay = random_layout(4)
    path = tmp_path / "lay.json"
    path.write_text(lay.to_json())
    out = tmp_path / "out.png"
    assert main(["render", "--layout", str(path), "-o", str(out), "--backbone", "procedural",
                 "--layout-out", str(tmp_path / "used.json")]) == 0
    assert Image.open(out).size == (64, 64)
    assert Layout.from_json((tmp_path / "used.json").read_text()) == lay
    bad = Layout(canvas=(64, 64), boxes={"cat#0": (0.1, 0.1, 0.5, 0.5)},
                 objects={"cat#0": Region(phrase="a cat", **{"class": "cat"})})
    path.write_text(bad.to_json())
    assert main(["render", "--layout", str(path), "-o", str(out)]) == 5


def test_int8_export_is_smaller_and_renders_what_float16_renders(tiny_weights, tmp_path):
    from compose.backbones.embedded import EmbeddedBackbone

    run = tiny_weights.parent
    small = tmp_path / "tiny-int8.safetensors"
    small.with_suffix(".sha256").write_text(export_weights(run, small, int8=True) + "\n")
    assert small.stat().st_size < 0.75 * tiny_weights.stat().st_size
    layouts = [random_layout(3)]
    half = EmbeddedBackbone(tiny_weights, steps=3).render(layouts, seeds=[1]).images[0]
    quarter = EmbeddedBackbone(small, steps=3).render(layouts, seeds=[1]).images[0]
    diff = np.abs(np.asarray(half, dtype=int) - np.asarray(quarter, dtype=int))
    assert diff.mean() < 3
