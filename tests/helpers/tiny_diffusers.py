"""Tiny, randomly initialised diffusers checkpoints built from configs and saved to folders, so the
backbones load them exactly like users' checkpoints (diffusers' own testing pattern). Nothing is
downloaded: the CLIP tokenizer is built from vocab and merges files written here, the T5 one from
a small unigram vocabulary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    import torch

WORDS = ["a", "red", "blue", "green", "cube", "ball", "cat", "dog", "on", "left", "of", "right", "the", "in", "front", "behind", "big", "small", "photo", "of", "table", "tree", "sky", "grass", "room", "car", "person", "bad", "blurry", "background", "style", "painting"]


def _bytes_to_unicode() -> list[str]:
    """GPT-2's printable stand-in for each byte, in byte order (the alphabet of a byte-level BPE)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def clip_tokenizer(folder: Path):
    """A CLIPTokenizer from a vocab of single characters (and their word-final forms), a few
    whole words, and the merges that build those words."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges = []
    for word in WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            merges.append(f"{a} {b}")
            merged = a + b
            if merged not in vocab:
                vocab[merged] = len(vocab)
            pieces = [merged] + pieces[2:]
    merges = list(dict.fromkeys(merges))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def t5_tokenizer():
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + w, -1.0) for w in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz,."]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def clip_text_encoder(vocab_size: int, hidden: int = 32, projection: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, hidden_size=hidden,
                            intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4,
                            num_hidden_layers=2, pad_token_id=1, vocab_size=vocab_size,
                            projection_dim=projection or hidden, hidden_act="gelu")
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(config).eval()


def t5_encoder(vocab_size: int, d_model: int = 32):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=37, num_layers=2,
                      num_heads=4, relative_attention_num_buckets=8, decoder_start_token_id=0)
    return T5EncoderModel(config).eval()


def vae(latent_channels: int = 4, **extra):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * 2,
                         up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=latent_channels,
                         norm_num_groups=2, sample_size=32, **extra).eval()


def unet(cross_attention_dim: int = 32, **extra):
    from diffusers import UNet2DConditionModel

    config = {"block_out_channels": (8, 16), "layers_per_block": 1, "sample_size": 16, "in_channels": 4,
                  "out_channels": 4, "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                  "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                  "cross_attention_dim": cross_attention_dim, "norm_num_groups": 2, "attention_head_dim": 4}
    config.update(extra)
    return UNet2DConditionModel(**config).eval()


def ddim():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def save_sd(folder: Path, *, gligen: bool = False, seed: int = 0) -> Path:
    """A tiny SD 1.x pipeline folder (a GLIGEN one with a gated UNet when ``gligen``)."""
    import torch
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(seed)
    tok = clip_tokenizer(folder / "_tok")
    extra = {"attention_type": "gated"} if gligen else {}
    net = unet(**extra)
    if gligen:  # GLIGEN's gates start closed (tanh(0) = 0); open them as training would
        for name, param in net.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                torch.nn.init.constant_(param, 1.0)
    pipe = StableDiffusionPipeline(vae=vae(), text_encoder=clip_text_encoder(len(tok)), tokenizer=tok,
                                   unet=net, scheduler=ddim(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def save_sdxl(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import StableDiffusionXLPipeline

    torch.manual_seed(seed)
    tok = clip_tokenizer(folder / "_tok")
    te1 = clip_text_encoder(len(tok), hidden=32)
    te2 = clip_text_encoder(len(tok), hidden=32, projection=32)
    net = unet(cross_attention_dim=64, addition_embed_type="text_time", addition_time_embed_dim=8,
               projection_class_embeddings_input_dim=32 + 6 * 8, transformer_layers_per_block=(1, 1))
    pipe = StableDiffusionXLPipeline(vae=vae(), text_encoder=te1, text_encoder_2=te2, tokenizer=tok,
                                     tokenizer_2=tok, unet=net, scheduler=ddim())
    pipe.save_pretrained(folder)
    return folder


def save_controlnet_sd(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny SD 1.x folder and a tiny ControlNet folder beside it."""
    import torch
    from diffusers import ControlNetModel

    save_sd(folder / "sd", seed=seed)
    torch.manual_seed(seed + 1)
    net = ControlNetModel(block_out_channels=(8, 16), layers_per_block=1, in_channels=4,
                          down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                          cross_attention_dim=32, norm_num_groups=2, attention_head_dim=4,
                          conditioning_embedding_out_channels=(4, 8)).eval()
    # ControlNet starts from zero convolutions (no effect); give them weights as training would
    for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
        torch.nn.init.normal_(conv.weight, std=0.5)
    net.save_pretrained(folder / "controlnet")
    return folder / "sd", folder / "controlnet"


def save_sd3(folder: Path, seed: int = 0) -> Path:
    """A tiny SD3 folder: two CLIP encoders with projection and a T5 encoder."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    torch.manual_seed(seed)
    tok = clip_tokenizer(folder / "_tok")
    t5tok = t5_tokenizer()
    transformer = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=4, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=2,
                                        caption_projection_dim=16, joint_attention_dim=32,
                                        pooled_projection_dim=64, out_channels=4).eval()
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae(shift_factor=0.0609, scaling_factor=1.5035),
        text_encoder=clip_text_encoder(len(tok), projection=32), tokenizer=tok,
        text_encoder_2=clip_text_encoder(len(tok), projection=32), tokenizer_2=tok,
        text_encoder_3=t5_encoder(len(t5tok)), tokenizer_3=t5tok)
    pipe.save_pretrained(folder)
    return folder


def save_flux(folder: Path, seed: int = 0) -> Path:
    """A tiny FLUX folder: a CLIP encoder (pooled) and a T5 encoder."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    tok = clip_tokenizer(folder / "_tok")
    t5tok = t5_tokenizer()
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1,
                                         num_single_layers=1, attention_head_dim=8,
                                         num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 2, 2]).eval()
    pipe = FluxPipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),
                        vae=vae(shift_factor=0.1159, scaling_factor=0.3611), text_encoder=clip_text_encoder(len(tok)),
                        tokenizer=tok, text_encoder_2=t5_encoder(len(t5tok)), tokenizer_2=t5tok)
    pipe.save_pretrained(folder)
    return folder


def qwen_tokenizer(folder: Path, *, chat: bool = False):
    """A byte-level BPE ``Qwen2Tokenizer`` (Qwen2.5 / Qwen3 style) from written vocab and merges
    files, with Qwen's chat tokens (and a minimal chat template when ``chat``)."""
    from transformers import Qwen2Tokenizer

    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    merges = []
    for word in dict.fromkeys(WORDS + ["system", "user", "assistant", "Describe", "image"]):
        pieces = ["\u0120"] + list(word)
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n",
                                       encoding="utf-8")
    tok = Qwen2Tokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                         unk_token=None, bos_token=None, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", model_max_length=4096)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    if chat:
        tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                             "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                             "assistant\n{% endif %}")
    return tok


def save_flux2_klein(folder: Path, seed: int = 0, *, distilled: bool = False) -> Path:
    """A tiny FLUX.2 klein folder: a Qwen3 text encoder (3 layers, stacked as klein stacks its
    layers 9, 18 and 27) and the FLUX.2 VAE and transformer."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tok = qwen_tokenizer(folder / "_tok", chat=True)
    text = Qwen3ForCausalLM(Qwen3Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=3, num_attention_heads=2,
                                        num_key_value_heads=1, head_dim=8,
                                        max_position_embeddings=512)).eval()
    vae = AutoencoderKLFlux2(block_out_channels=(4, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                             norm_num_groups=2, layers_per_block=1, sample_size=32).eval()
    transformer = Flux2Transformer2DModel(patch_size=1, in_channels=16, num_layers=1,
                                          num_single_layers=1, attention_head_dim=8,
                                          num_attention_heads=2, joint_attention_dim=48,
                                          timestep_guidance_channels=32, axes_dims_rope=(2, 2, 2, 2),
                                          guidance_embeds=False).eval()
    pipe = Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0),
                              vae=vae, text_encoder=text, tokenizer=tok, transformer=transformer,
                              is_distilled=distilled)
    pipe.save_pretrained(folder)
    return folder


def check_joint_probs(probs: torch.Tensor, layout, grid, segments: list[int], *, text_first: bool) -> None:
    """``probs`` (batch, heads, T, T) over [text, image] (FLUX) or [image, text] (SD3); text is
    the base segment then one per region, of the given lengths."""
    import numpy as np
    import torch

    from compose.backbones.conditioning import exclusive_box_masks, layout_prompts

    instances = layout_prompts(layout).instances
    pixels = grid[0] * grid[1]
    masks = torch.from_numpy(exclusive_box_masks(layout, instances, *grid)).reshape(len(instances), pixels)
    assert len(segments) == 1 + len(instances)
    text = sum(segments)
    assert probs.shape[-1] == text + pixels
    img = slice(text, text + pixels) if text_first else slice(0, pixels)
    starts = np.cumsum([0] + segments) + (0 if text_first else pixels)

    def seg(s):
        return slice(int(starts[s]), int(starts[s + 1]))

    image_rows = probs[..., img, :]
    assert image_rows[..., seg(0)].sum(-1).min() > 0  # the base prompt reaches every pixel
    for r in range(len(instances)):
        own = image_rows[..., seg(r + 1)].sum(-1)
        inside = masks[r]
        assert own[..., ~inside].max() < 1e-6  # pixels outside the box never see the region
        assert own[..., inside].min() > 0
        region_rows = probs[..., seg(r + 1), :]
        assert region_rows[..., img][..., ~inside].max() < 1e-6  # nor does the region see them
        others = [seg(s) for s in range(1 + len(instances)) if s != r + 1]
        assert max(region_rows[..., o].max() for o in others) < 1e-6  # segments stay apart


def save_qwen_image(folder: Path, seed: int = 0) -> Path:
    """A tiny Qwen-Image folder: a Qwen2.5-VL text encoder, the Qwen-Image VAE and transformer
    (sizes as in diffusers' own Qwen-Image tests)."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    tok = qwen_tokenizer(folder / "_tok")
    n = len(tok)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": n,
                         "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default",
                                       "type": "default"}, "rope_theta": 1000000.0,
                         "bos_token_id": None, "eos_token_id": end},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        vocab_size=n, vision_start_token_id=n - 3, vision_end_token_id=n - 2, vision_token_id=n - 1,
        image_token_id=n - 1, video_token_id=n - 1, bos_token_id=None, eos_token_id=end)
    text = Qwen2_5_VLForConditionalGeneration(config).eval()
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4,
                                              num_layers=2, attention_head_dim=16,
                                              num_attention_heads=3, joint_attention_dim=16,
                                              guidance_embeds=False, axes_dims_rope=(8, 4, 4)).eval()
    vae = AutoencoderKLQwenImage(base_dim=4 * 6, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True], latents_mean=[0.0] * 4,
                                 latents_std=[1.0] * 4).eval()
    pipe = QwenImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0),
                             vae=vae, text_encoder=text, tokenizer=tok, transformer=transformer)
    pipe.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- pytest fixtures
# tests/conftest.py imports these, so every test module can ask for them by name; each folder is
# built once per session (torch is imported only when one is).


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    return save_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_gligen(tmp_path_factory) -> Path:
    return save_sd(tmp_path_factory.mktemp("tiny-gligen"), gligen=True)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> Path:
    return save_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory) -> Path:
    return save_sd3(tmp_path_factory.mktemp("tiny-sd3"))


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory) -> Path:
    return save_flux(tmp_path_factory.mktemp("tiny-flux"))


@pytest.fixture(scope="session")
def tiny_flux2(tmp_path_factory) -> Path:
    return save_flux2_klein(tmp_path_factory.mktemp("tiny-flux2-klein"))


@pytest.fixture(scope="session")
def tiny_qwen_image(tmp_path_factory) -> Path:
    return save_qwen_image(tmp_path_factory.mktemp("tiny-qwen-image"))


@pytest.fixture(scope="session")
def tiny_controlnet(tmp_path_factory) -> tuple[Path, Path]:
    return save_controlnet_sd(tmp_path_factory.mktemp("tiny-controlnet"))


def two_region_layout(size: int = 32, **extra):
    """A cube on the left and a ball on the right, overlapping in the middle (ball in front)."""
    from compose.layouts import Layout, Region

    return Layout(canvas=(size, size), boxes={"cube#0": (0.0, 0.0, 0.5, 1.0), "ball#0": (0.375, 0.25, 1.0, 0.75)},
                  objects={"cube#0": Region(phrase="a red cube", **{"class": "cube"}),
                           "ball#0": Region(phrase="a blue ball", attributes={"negative": "blurry"},
                                            z=1, **{"class": "ball"})}, **extra)


def full_canvas_layout(size: int = 32):
    from compose.layouts import Layout, Region

    return Layout(canvas=(size, size), boxes={"cube#0": (0.0, 0.0, 1.0, 1.0)},
                  objects={"cube#0": Region(phrase="a red cube", **{"class": "cube"})})


def left_half_mask(size: int = 32):
    from PIL import Image

    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (0, 0, size // 2, size))
    return mask
