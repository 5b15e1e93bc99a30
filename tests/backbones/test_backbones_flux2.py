"""``flux2-regional`` on a tiny random FLUX.2 klein checkpoint (Qwen3 text encoder built from a
config, tokenizer from written vocab/merges): grouped attention seen in the model's own
probabilities, full-canvas equality with the plain pipeline, restored processors, repaint."""

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
from compose.errors import BackboneError

TEXT_TOKENS = 16
LAYERS = [1, 2, 3]  # the tiny Qwen3 has 3 layers; klein stacks 3 hidden layers


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def flux2(tiny_flux2):
    return get_backbone("flux2-regional", model=str(tiny_flux2), device="cpu", dtype="fp32",
                        base_ratio=0.3, max_sequence_length=TEXT_TOKENS, region_sequence_length=8,
                        text_encoder_out_layers=LAYERS)


def test_flux2_region_tokens_reach_only_their_boxes(flux2):
    layout = two_region_layout()
    flux2.capture = []
    try:
        result = flux2.render([layout], seeds=[0], steps=2, guidance=2.0)
        captured = flux2.capture
    finally:
        flux2.capture = None
    assert result.images[0].size == (32, 32)
    assert result.info["pipeline"] == "Flux2KleinPipeline"
    assert len(captured) == 2 * 2 * 2  # steps x (cond, uncond) x (double + single block)
    for probs in captured:
        check_joint_probs(probs, layout, (8, 8), [TEXT_TOKENS, 8, 8], text_first=True)


def test_flux2_restores_processors_after_a_call_and_after_an_error(flux2):
    transformer = flux2.pipe.transformer
    before = dict(transformer.attn_processors)
    flux2.render([two_region_layout()], seeds=[0], steps=1)
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    layout = two_region_layout()
    plan = flux2.attention_plan(layout, flux2.encode_layout(layout, 1.0), 32, 32)
    with pytest.raises(ValueError, match="regional plan"), flux2.regional_processors(plan):
        flux2.pipe(prompt="a red cube", height=32, width=32, num_inference_steps=1, guidance_scale=1.0,
                   max_sequence_length=8, text_encoder_out_layers=tuple(LAYERS))
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    assert {type(p).__name__ for p in transformer.attn_processors.values()} == {
        "Flux2AttnProcessor", "Flux2ParallelSelfAttnProcessor"}


def test_flux2_full_canvas_region_equals_plain_pipeline(tiny_flux2):
    backbone = get_backbone("flux2-regional", model=str(tiny_flux2), device="cpu", dtype="fp32",
                            base_ratio=0.0, max_sequence_length=TEXT_TOKENS,
                            region_sequence_length=TEXT_TOKENS, text_encoder_out_layers=LAYERS)
    ours = backbone.render([full_canvas_layout()], seeds=[5], steps=2, guidance=2.0).images[0]
    reference = backbone.pipe(prompt="a red cube", height=32, width=32, num_inference_steps=2,
                              guidance_scale=2.0, max_sequence_length=TEXT_TOKENS,
                              text_encoder_out_layers=tuple(LAYERS),
                              generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1


def test_flux2_repaint_leaves_unmasked_latents_unchanged(flux2):
    layout = two_region_layout()
    image = flux2.render([layout], seeds=[1], steps=2).images[0]
    done = flux2.repaint_one(image, left_half_mask(), layout, 2, 2, 2.0)
    keep = done["mask"] == 0
    assert keep.any() and (~keep).any()
    assert torch.equal(done["latents"][keep], done["known"][keep])
    assert not torch.allclose(done["latents"][~keep], done["known"][~keep])
    out = flux2.repaint([image], [left_half_mask()], [layout], seeds=[2], steps=2).images[0]
    assert np.array_equal(_pixels(image)[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(_pixels(image)[:, :16] - _pixels(out)[:, :16]).mean() > 1.0


def test_flux2_missing_weights_name_where_it_looked(tmp_path):
    with pytest.raises(BackboneError, match="E403") as info:
        get_backbone("flux2-regional", model=str(tmp_path / "nowhere"), device="cpu")
    assert "nowhere" in str(info.value)


def test_unknown_option_is_e406_before_anything_loads(tmp_path):
    with pytest.raises(BackboneError, match="E406") as info:
        get_backbone("flux2-regional", model=str(tmp_path / "nowhere"), device="cpu", true_cfg=2.0)
    assert "true_cfg" in str(info.value)


def test_from_pipeline_wraps_a_pipeline_built_in_memory(flux2):
    from compose.backbones.flux2_regional import Flux2RegionalBackbone

    wrapped = Flux2RegionalBackbone.from_pipeline(flux2.pipe, **{k: v for k, v in flux2.options.items()
                                                                 if k not in ("device", "dtype")})
    layout = two_region_layout()
    ours = wrapped.render([layout], seeds=[3], steps=1).images[0]
    loaded = flux2.render([layout], seeds=[3], steps=1).images[0]
    assert wrapped.runtime.device == "cpu" and wrapped.runtime.dtype == "fp32"
    assert np.array_equal(_pixels(ours), _pixels(loaded))


@pytest.fixture(scope="module")
def flux2_dev_pipe():
    """A tiny FLUX.2-dev-shaped pipeline built in memory (embedded guidance; its Mistral text
    encoder left out: prompts come as embeddings)."""
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2Pipeline,
        Flux2Transformer2DModel,
    )

    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(block_out_channels=(4, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                             norm_num_groups=2, layers_per_block=1, sample_size=32).eval()
    transformer = Flux2Transformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                          attention_head_dim=8, num_attention_heads=2,
                                          joint_attention_dim=48, timestep_guidance_channels=32,
                                          axes_dims_rope=(2, 2, 2, 2), guidance_embeds=True).eval()
    return Flux2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0),
                         vae=vae, text_encoder=None, tokenizer=None, transformer=transformer)


def test_flux2_dev_embedded_guidance_full_canvas_and_masking(flux2_dev_pipe):
    from compose.backbones.flux2_regional import Flux2RegionalBackbone

    backbone = Flux2RegionalBackbone.from_pipeline(flux2_dev_pipe, base_ratio=0.0,
                                                   max_sequence_length=TEXT_TOKENS,
                                                   region_sequence_length=TEXT_TOKENS)
    text = torch.randn(1, TEXT_TOKENS, 48, generator=torch.Generator().manual_seed(1))
    backbone.segments = lambda base, regions: (text.repeat(1, 1 + len(regions), 1),
                                               [TEXT_TOKENS] * (1 + len(regions)))
    assert not backbone.true_cfg(4.0)  # dev is guidance-distilled: no negatives
    ours = backbone.render([full_canvas_layout()], seeds=[5], steps=2, guidance=4.0).images[0]
    reference = flux2_dev_pipe(prompt_embeds=text, height=32, width=32, num_inference_steps=2,
                               guidance_scale=4.0, generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1
    backbone.options["base_ratio"] = 0.3
    backbone.capture = []
    layout = two_region_layout()
    backbone.render([layout], seeds=[0], steps=1, guidance=4.0)
    assert len(backbone.capture) == 2  # one double-stream and one single-stream block
    for probs in backbone.capture:
        check_joint_probs(probs, layout, (8, 8), [TEXT_TOKENS] * 3, text_first=True)
