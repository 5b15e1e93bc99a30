"""``sd3-regional`` and ``flux-regional`` on tiny random checkpoints: renders, repaint, the joint
attention mask seen in the models' own attention probabilities, full-canvas equality with the
plain pipelines, and restored processors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.tiny_diffusers import (
    check_joint_probs,
    full_canvas_layout,
    left_half_mask,
    two_region_layout,
)

from compose.backbones import get_backbone
from compose.backbones.regional_attention import SD3RegionalJointAttnProcessor

BASE_RATIO = 0.3
T5_TOKENS = 16


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


# ----------------------------------------------------------------------------- sd3-regional


@pytest.fixture(scope="module")
def sd3_regional(tiny_sd3):
    return get_backbone("sd3-regional", model=str(tiny_sd3), device="cpu", dtype="fp32",
                        base_ratio=BASE_RATIO, max_sequence_length=T5_TOKENS, region_sequence_length=8)


def test_sd3_regional_masks_joint_attention_and_restores(sd3_regional):
    layout = two_region_layout()
    transformer = sd3_regional.pipe.transformer
    before = dict(transformer.attn_processors)
    sd3_regional.capture = []
    try:
        result = sd3_regional.render([layout, layout], seeds=[0, 0], steps=2)
        captured = sd3_regional.capture
    finally:
        sd3_regional.capture = None
    assert [im.size for im in result.images] == [(32, 32)] * 2
    assert np.array_equal(_pixels(result.images[0]), _pixels(result.images[1]))
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    assert len(captured) == 2 * 2 * 2  # images x steps x joint blocks
    for probs in captured:
        check_joint_probs(probs, layout, (8, 8), [77 + T5_TOKENS, 77 + 8, 77 + 8], text_first=False)
    cond = sd3_regional.encode_layout(layout, 4.5)
    plan = sd3_regional.attention_plan(layout, cond, 32, 32)
    with pytest.raises(ValueError, match="regional plan"), sd3_regional.regional_processors(plan):  # an error inside the block (text of the wrong length)
        transformer(hidden_states=torch.randn(1, 4, 16, 16), timestep=torch.tensor([500.0]),
                    encoder_hidden_states=torch.randn(1, 10, 32), pooled_projections=torch.randn(1, 64))
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    assert not any(isinstance(p, SD3RegionalJointAttnProcessor) for p in transformer.attn_processors.values())


def test_sd3_regional_repaint_keeps_everything_outside_the_mask(sd3_regional):
    layout = two_region_layout()
    image = sd3_regional.render([layout], seeds=[1], steps=2).images[0]
    out = sd3_regional.repaint([image], [left_half_mask()], [layout], seeds=[2], steps=2).images[0]
    assert np.array_equal(_pixels(image)[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(_pixels(image)[:, :16] - _pixels(out)[:, :16]).mean() > 1.0


def test_sd3_regional_full_canvas_region_equals_plain_pipeline(tiny_sd3):

    backbone = get_backbone("sd3-regional", model=str(tiny_sd3), device="cpu", dtype="fp32",
                            base_ratio=0.0, max_sequence_length=T5_TOKENS)
    ours = backbone.render([full_canvas_layout()], seeds=[5], steps=2, guidance=4.5).images[0]
    plain = backbone.pipe  # the same weights; processors are the originals again after the call
    reference = plain("a red cube", height=32, width=32, num_inference_steps=2, guidance_scale=4.5,
                      max_sequence_length=T5_TOKENS, generator=torch.Generator().manual_seed(5)).images[0]
    assert type(next(iter(plain.transformer.attn_processors.values()))).__name__ == "JointAttnProcessor2_0"
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1


# ----------------------------------------------------------------------------- flux-regional


@pytest.fixture(scope="module")
def flux_regional(tiny_flux):
    return get_backbone("flux-regional", model=str(tiny_flux), device="cpu", dtype="fp32",
                        base_ratio=BASE_RATIO, max_sequence_length=T5_TOKENS, region_sequence_length=8)


def test_flux_regional_groups_attention_in_every_block_and_restores(flux_regional):
    layout = two_region_layout()
    transformer = flux_regional.pipe.transformer
    before = dict(transformer.attn_processors)
    flux_regional.capture = []
    try:
        result = flux_regional.render([layout], seeds=[0], steps=2)
        captured = flux_regional.capture
    finally:
        flux_regional.capture = None
    assert result.images[0].size == (32, 32)
    assert len(captured) == 2 * 2  # steps x (one double-stream + one single-stream block)
    segments = [T5_TOKENS, 8, 8]  # short segments for the region phrases
    for probs in captured:
        check_joint_probs(probs, layout, (8, 8), segments, text_first=True)
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    plan = flux_regional.attention_plan(layout, flux_regional.encode_layout(layout), 32, 32)
    with pytest.raises(ValueError, match="regional plan"), flux_regional.regional_processors(plan):
        flux_regional.pipe("a red cube", height=32, width=32, num_inference_steps=1,
                           max_sequence_length=8)  # a text of the wrong length
    assert all(transformer.attn_processors[n] is p for n, p in before.items())


def test_flux_regional_repaint_keeps_everything_outside_the_mask(flux_regional):
    layout = two_region_layout()
    image = flux_regional.render([layout], seeds=[1], steps=2).images[0]
    out = flux_regional.repaint([image], [left_half_mask()], [layout], seeds=[2], steps=2).images[0]
    assert np.array_equal(_pixels(image)[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(_pixels(image)[:, :16] - _pixels(out)[:, :16]).mean() > 1.0


def test_flux_regional_full_canvas_region_equals_plain_pipeline(tiny_flux):
    backbone = get_backbone("flux-regional", model=str(tiny_flux), device="cpu", dtype="fp32",
                            base_ratio=0.0, max_sequence_length=T5_TOKENS)
    ours = backbone.render([full_canvas_layout()], seeds=[5], steps=2, guidance=3.5).images[0]
    reference = backbone.pipe("a red cube", height=32, width=32, num_inference_steps=2,
                              guidance_scale=3.5, max_sequence_length=T5_TOKENS,
                              generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1


def test_flux_regional_true_cfg_uses_region_negatives(tiny_flux):
    backbone = get_backbone("flux-regional", model=str(tiny_flux), device="cpu", dtype="fp32",
                            max_sequence_length=T5_TOKENS, true_cfg=2.0)
    layout = two_region_layout(negative="dark")
    cond = backbone.encode_layout(layout)
    assert cond["embeds"]["negative_prompt_embeds"].shape == cond["embeds"]["prompt_embeds"].shape
    with_cfg = backbone.render([layout], seeds=[0], steps=1).images[0]
    without = get_backbone("flux-regional", model=str(tiny_flux), device="cpu", dtype="fp32",
                           max_sequence_length=T5_TOKENS).render([layout], seeds=[0], steps=1).images[0]
    assert not np.array_equal(_pixels(with_cfg), _pixels(without))


# ----------------------------------------------------------------------------- grouped attention


@pytest.mark.parametrize("text_first", [True, False])
@pytest.mark.parametrize("base_ratio", [0.0, 0.3, 1.0])
def test_grouped_attention_equals_the_masked_attention(text_first, base_ratio):
    """One SDPA per region group gives the masked attention over the whole sequence, to float64
    rounding, and its captured probabilities are the masked softmax."""
    from compose.backbones.regional_attention import (
        grouped_attention,
        joint_attention_mask,
        joint_attention_plan,
    )

    layout = two_region_layout()
    instances, segments = ["cube#0", "ball#0"], [16, 8, 8]
    mask = joint_attention_mask(layout, instances, (8, 8), segments, base_ratio,
                                text_first=text_first, dtype=torch.float64)
    plan = joint_attention_plan(layout, instances, (8, 8), segments, base_ratio,
                                text_first=text_first, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, mask.shape[-1], 8, dtype=torch.float64, generator=generator)
               for _ in range(3))
    captured: list = []
    ours = grouped_attention(q, k, v, plan, capture=captured)
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (ours - reference).abs().max() < 1e-12
    dense = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5 + mask, dim=-1)
    assert (captured[0] - dense).abs().max() < 1e-12
    assert not any(b is not None and b.shape[-2] != 1 for _, _, b in plan.groups)  # no T x T mask
