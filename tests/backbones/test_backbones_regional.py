"""``sd-regional`` and ``sdxl-regional`` on tiny random checkpoints: renders, repaint, and the
mechanism itself — a region's tokens get no attention outside its box at every resolution, the
base prompt reaches everywhere, a full-canvas region equals the plain pipeline, and the original
processors are back after every call (also after an error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.tiny_diffusers import full_canvas_layout, left_half_mask, two_region_layout
from PIL import Image

from compose.backbones import get_backbone
from compose.backbones.conditioning import exclusive_box_masks, layout_prompts
from compose.backbones.diffusers_base import generator
from compose.backbones.regional_attention import RegionalCrossAttnProcessor
from compose.backbones.sampling import repaint_latents

BASE_RATIO = 0.3


@pytest.fixture(scope="module")
def sd_regional(tiny_sd):
    return get_backbone("sd-regional", model=str(tiny_sd), device="cpu", dtype="fp32",
                        base_ratio=BASE_RATIO)


@pytest.fixture(scope="module")
def sdxl_regional(tiny_sdxl):
    return get_backbone("sdxl-regional", model=str(tiny_sdxl), device="cpu", dtype="fp32",
                        base_ratio=BASE_RATIO)


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _check_captured_masks(captured, layout, segment_length: int = 77) -> set:
    """Every captured cross-attention: rows sum to 1, the base prompt gets at least base_ratio
    everywhere, a region's tokens get < 1e-6 outside its box and the rest inside it."""
    instances = layout_prompts(layout).instances
    grids = set()
    for grid, probs in captured:
        grids.add(grid)
        masks = torch.from_numpy(exclusive_box_masks(layout, instances, *grid)).reshape(len(instances), -1)
        assert probs.shape[-1] == segment_length * (1 + len(instances))
        assert torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-4)
        base = probs[..., :segment_length].sum(-1)
        assert base.min() >= BASE_RATIO - 1e-4
        for r in range(len(instances)):
            own = probs[..., (r + 1) * segment_length:(r + 2) * segment_length].sum(-1)
            inside = masks[r]
            assert inside.any()
            assert own[..., ~inside].max() < 1e-6
            assert own[..., inside].min() > 1 - BASE_RATIO - 1e-4
    return grids


# ----------------------------------------------------------------------------- the processor


def test_regional_processor_output_is_its_masked_attention():
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=4).eval()
    layout = two_region_layout()
    instances = layout_prompts(layout).instances
    processor = RegionalCrossAttnProcessor(layout, instances, (4, 4), 5, BASE_RATIO, capture=[])
    x, text = torch.randn(2, 16, 16), torch.randn(2, 15, 8)
    with torch.no_grad():
        out = processor(attn, x, text)
        (grid, probs), = processor.capture
        value = attn.to_v(text).view(2, -1, 2, 4).transpose(1, 2)
        manual = attn.to_out[0]((probs @ value).transpose(1, 2).reshape(2, 16, 8))
    assert grid == (4, 4)
    assert torch.allclose(out, manual, atol=1e-5)
    _check_captured_masks(processor.capture, layout, segment_length=5)


# ----------------------------------------------------------------------------- sd-regional


def test_sd_regional_renders_a_batch_deterministically(sd_regional):
    layout = two_region_layout()
    result = sd_regional.render([layout, layout, layout], seeds=[3, 3, 4], steps=2)
    assert [im.size for im in result.images] == [(32, 32)] * 3
    assert result.seeds == [3, 3, 4] and result.steps == 2
    assert result.info["backbone"] == "sd-regional" and set(result.timings) == {"encode", "denoise"}
    assert np.array_equal(_pixels(result.images[0]), _pixels(result.images[1]))
    assert not np.array_equal(_pixels(result.images[0]), _pixels(result.images[2]))


def test_sd_regional_region_tokens_masked_at_every_resolution(sd_regional):
    layout = two_region_layout()
    sd_regional.capture = []
    try:
        sd_regional.render([layout], seeds=[0], steps=1)
        captured = sd_regional.capture
    finally:
        sd_regional.capture = None
    assert len(captured) >= 4  # every cross-attention of the down, mid and up blocks
    grids = _check_captured_masks(captured, layout)
    assert {(16, 16), (8, 8)} <= grids


def test_sd_regional_full_canvas_region_equals_plain_pipeline(sd_regional, tiny_sd):
    from diffusers import StableDiffusionPipeline

    ours = sd_regional.render([full_canvas_layout()], seeds=[5], steps=2, guidance=7.5).images[0]
    plain = StableDiffusionPipeline.from_pretrained(str(tiny_sd), local_files_only=True)
    plain.set_progress_bar_config(disable=True)
    reference = plain("a red cube", height=32, width=32, num_inference_steps=2, guidance_scale=7.5,
                      generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1


def test_sd_regional_restores_processors_after_call_and_after_error(sd_regional):
    unet = sd_regional.pipe.unet
    before = dict(unet.attn_processors)
    sd_regional.render([two_region_layout()], seeds=[0], steps=1)
    assert all(unet.attn_processors[name] is proc for name, proc in before.items())
    with pytest.raises(ValueError):  # DDIM refuses more steps than training timesteps, mid-call
        sd_regional.render([two_region_layout()], seeds=[0], steps=5000)
    assert all(unet.attn_processors[name] is proc for name, proc in before.items())
    assert not any(isinstance(p, RegionalCrossAttnProcessor) for p in unet.attn_processors.values())


def test_sd_regional_repaint_keeps_everything_outside_the_mask(sd_regional):
    layout = two_region_layout()
    image = sd_regional.render([layout], seeds=[1], steps=2).images[0]
    mask = left_half_mask()
    out = sd_regional.repaint([image], [mask], [layout], seeds=[9], steps=2).images[0]
    before, after = _pixels(image), _pixels(out)
    assert np.array_equal(before[:, 16:], after[:, 16:])
    assert np.abs(before[:, :16] - after[:, :16]).mean() > 1.0
    # the latents outside the (latent) mask are the image's own, unchanged
    cond = sd_regional.encode_layout(layout, 7.5)
    with sd_regional.regional_processors(layout, cond["instances"], cond["segment_length"], (16, 16)):
        done = repaint_latents(sd_regional.pipe.vae, sd_regional.pipe.scheduler,
                               sd_regional.noise_predictor(cond, 7.5, (32, 32)), image, mask,
                               (32, 32), 2, generator(9))
    keep = (done.mask == 0).expand_as(done.known)
    assert keep.any() and torch.equal(done.latents[keep], done.known[keep])
    assert not torch.equal(done.latents[~keep], done.known[~keep])


def test_sd_regional_rejects_bad_arguments(sd_regional):
    from compose.errors import BackboneError

    with pytest.raises(BackboneError, match="seeds"):
        sd_regional.render([two_region_layout()], seeds=[1, 2], steps=2)
    with pytest.raises(BackboneError, match="steps"):
        sd_regional.render([two_region_layout()], seeds=[1], steps=0)
    with pytest.raises(BackboneError, match="images"):
        sd_regional.repaint([], [left_half_mask()], [two_region_layout()], seeds=[1], steps=2)
    with pytest.raises(BackboneError, match=r"masks\[0\]"):
        sd_regional.repaint([Image.new("RGB", (32, 32))], [left_half_mask(16)], [two_region_layout()],
                            seeds=[1], steps=2)


# ----------------------------------------------------------------------------- sdxl-regional


def test_sdxl_regional_renders_masks_and_repaints(sdxl_regional):
    layout = two_region_layout(background="a room")
    sdxl_regional.capture = []
    try:
        result = sdxl_regional.render([layout], seeds=[2], steps=2)
        captured = sdxl_regional.capture
    finally:
        sdxl_regional.capture = None
    assert result.images[0].size == (32, 32)
    assert {(16, 16), (8, 8)} <= _check_captured_masks(captured, layout)
    mask = left_half_mask()
    out = sdxl_regional.repaint(result.images, [mask], [layout], seeds=[3], steps=2).images[0]
    assert np.array_equal(_pixels(result.images[0])[:, 16:], _pixels(out)[:, 16:])


def test_sdxl_regional_full_canvas_region_equals_plain_pipeline(sdxl_regional, tiny_sdxl):
    from diffusers import StableDiffusionXLPipeline

    before = dict(sdxl_regional.pipe.unet.attn_processors)
    ours = sdxl_regional.render([full_canvas_layout()], seeds=[5], steps=2, guidance=5.0).images[0]
    assert all(sdxl_regional.pipe.unet.attn_processors[n] is p for n, p in before.items())
    plain = StableDiffusionXLPipeline.from_pretrained(str(tiny_sdxl), local_files_only=True)
    plain.set_progress_bar_config(disable=True)
    reference = plain("a red cube", height=32, width=32, num_inference_steps=2, guidance_scale=5.0,
                      generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1
