"""``qwen-image-regional`` on a tiny random Qwen-Image checkpoint (Qwen2.5-VL text encoder built
from a config, tokenizer from written vocab/merges): grouped attention seen in the model's own
probabilities (with the text padding of per-region negatives), full-canvas equality with the
plain pipeline, restored processors, repaint."""

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

TEXT_TOKENS = 256  # the tiny tokenizer spells Qwen's prompt template out in ~90 tokens


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def qwen(tiny_qwen_image):
    return get_backbone("qwen-image-regional", model=str(tiny_qwen_image), device="cpu",
                        dtype="fp32", base_ratio=0.3, max_sequence_length=TEXT_TOKENS,
                        region_sequence_length=TEXT_TOKENS)


def test_qwen_region_tokens_reach_only_their_boxes_with_padded_negatives(qwen):
    layout = two_region_layout(negative="dark")
    cond = qwen.encode_layout(layout, 4.0)
    neg_mask = cond["embeds"]["negative_prompt_embeds_mask"][0].bool()
    assert not neg_mask.all()  # the negatives are shorter: padded to the positives' segments
    qwen.capture = []
    try:
        result = qwen.render([layout], seeds=[0], steps=2, guidance=4.0)
        captured = qwen.capture
    finally:
        qwen.capture = None
    assert result.images[0].size == (32, 32)
    assert len(captured) == 2 * 2 * 2  # steps x (cond, uncond) x blocks
    segments = cond["segment_lengths"]
    for probs in captured:
        check_joint_probs(probs, layout, (4, 4), segments, text_first=True)  # VAE x4, 2x2 patches
    text = sum(segments)
    negative_passes = [p for i, p in enumerate(captured) if (i // 2) % 2 == 1]  # c, c, u, u per step
    for probs in negative_passes:  # padded keys get nothing
        assert probs[..., :text][..., ~neg_mask].max() == 0


def test_qwen_restores_processors_after_a_call_and_after_an_error(qwen):
    transformer = qwen.pipe.transformer
    before = dict(transformer.attn_processors)
    layout = two_region_layout()
    qwen.render([layout], seeds=[0], steps=1, guidance=1.0)
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    plan = qwen.attention_plan(layout, qwen.encode_layout(layout, 1.0), 32, 32)
    with pytest.raises(ValueError, match="regional plan"), qwen.regional_processors(plan):
        qwen.pipe(prompt="a red cube", height=32, width=32, num_inference_steps=1)
    assert all(transformer.attn_processors[n] is p for n, p in before.items())
    assert {type(p).__name__ for p in transformer.attn_processors.values()} == {"QwenDoubleStreamAttnProcessor2_0"}


def test_qwen_full_canvas_region_equals_plain_pipeline(tiny_qwen_image):
    backbone = get_backbone("qwen-image-regional", model=str(tiny_qwen_image), device="cpu",
                            dtype="fp32", base_ratio=0.0, max_sequence_length=TEXT_TOKENS,
                            region_sequence_length=TEXT_TOKENS)
    ours = backbone.render([full_canvas_layout()], seeds=[5], steps=2, guidance=1.0).images[0]
    reference = backbone.pipe(prompt="a red cube", height=32, width=32, num_inference_steps=2,
                              true_cfg_scale=1.0, generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(_pixels(ours) - _pixels(reference)).max() <= 1


def test_qwen_repaint_leaves_unmasked_latents_unchanged(qwen):
    layout = two_region_layout()
    image = qwen.render([layout], seeds=[1], steps=2, guidance=1.0).images[0]
    done = qwen.repaint_one(image, left_half_mask(), layout, 2, 2, 4.0)
    keep = done["mask"] == 0
    assert keep.any() and (~keep).any()
    assert torch.equal(done["latents"][keep], done["known"][keep])
    assert not torch.allclose(done["latents"][~keep], done["known"][~keep])
    out = qwen.repaint([image], [left_half_mask()], [layout], seeds=[2], steps=2).images[0]
    assert np.array_equal(_pixels(image)[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(_pixels(image)[:, :16] - _pixels(out)[:, :16]).mean() > 1.0


def test_qwen_missing_weights_name_where_it_looked(tmp_path):
    with pytest.raises(BackboneError, match="E403") as info:
        get_backbone("qwen-image-regional", model=str(tmp_path / "nowhere"), device="cpu")
    assert "nowhere" in str(info.value)
