"""The full-size architectures of the published checkpoints each diffusers backbone runs, as
config dicts, so their real sizes can be built without a download: on the meta device (no memory,
in the default tests) or with random weights on a GPU (``benchmarks/gpu_check.py``).

The values are the published ``config.json`` files' architecture fields (written here from the
model cards, diffusers' defaults, which follow those checkpoints, and the papers); options that
only affect loading are left out. ``build(model, part, device)`` makes one component;
:data:`REFERENCE` lists, per model, the components and their classes.

Examples
--------
>>> sorted(REFERENCE)   # doctest: +NORMALIZE_WHITESPACE
['flux1-dev', 'flux2-dev', 'flux2-klein-4b', 'qwen-image', 'sd15', 'sd35-medium', 'sdxl-base']
>>> REFERENCE["flux1-dev"]["transformer"][0]
'diffusers.FluxTransformer2DModel'
"""

from __future__ import annotations

from typing import Any

CLIP_L = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
          "projection_dim": 768}
CLIP_BIG_G = {"vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
              "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu",
              "projection_dim": 1280}
T5_XXL = {"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
          "num_heads": 64, "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32}
SD_VAE = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4,
          "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
          "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215}
MMDIT_VAE = dict(SD_VAE, latent_channels=16, sample_size=1024, use_quant_conv=False,
                 use_post_quant_conv=False)

#: model -> component -> (class path, config). Text encoders are ``transformers`` classes.
REFERENCE: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "sd15": {  # stable-diffusion-v1-5
        "unet": ("diffusers.UNet2DConditionModel", {"sample_size": 64, "cross_attention_dim": 768,
                                                    "attention_head_dim": 8}),
        "vae": ("diffusers.AutoencoderKL", SD_VAE),
        "text_encoder": ("transformers.CLIPTextModel", CLIP_L),
    },
    "sdxl-base": {  # stable-diffusion-xl-base-1.0
        "unet": ("diffusers.UNet2DConditionModel", {
            "sample_size": 128, "block_out_channels": [320, 640, 1280], "layers_per_block": 2,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "transformer_layers_per_block": [1, 2, 10], "attention_head_dim": [5, 10, 20],
            "cross_attention_dim": 2048, "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
            "use_linear_projection": True}),
        "vae": ("diffusers.AutoencoderKL", dict(SD_VAE, sample_size=1024, scaling_factor=0.13025)),
        "text_encoder": ("transformers.CLIPTextModel", CLIP_L),
        "text_encoder_2": ("transformers.CLIPTextModelWithProjection", CLIP_BIG_G),
    },
    "sd35-medium": {  # stable-diffusion-3.5-medium
        "transformer": ("diffusers.SD3Transformer2DModel", {
            "sample_size": 128, "patch_size": 2, "in_channels": 16, "num_layers": 24,
            "attention_head_dim": 64, "num_attention_heads": 24, "joint_attention_dim": 4096,
            "caption_projection_dim": 1536, "pooled_projection_dim": 2048, "out_channels": 16,
            "pos_embed_max_size": 384, "dual_attention_layers": list(range(13)),
            "qk_norm": "rms_norm"}),
        "vae": ("diffusers.AutoencoderKL", dict(MMDIT_VAE, scaling_factor=1.5305, shift_factor=0.0609)),
        "text_encoder": ("transformers.CLIPTextModelWithProjection", CLIP_L),
        "text_encoder_2": ("transformers.CLIPTextModelWithProjection", CLIP_BIG_G),
        "text_encoder_3": ("transformers.T5EncoderModel", T5_XXL),
    },
    "flux1-dev": {  # FLUX.1-dev
        "transformer": ("diffusers.FluxTransformer2DModel", {
            "patch_size": 1, "in_channels": 64, "num_layers": 19, "num_single_layers": 38,
            "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 4096,
            "pooled_projection_dim": 768, "guidance_embeds": True, "axes_dims_rope": [16, 56, 56]}),
        "vae": ("diffusers.AutoencoderKL", dict(MMDIT_VAE, scaling_factor=0.3611, shift_factor=0.1159)),
        "text_encoder": ("transformers.CLIPTextModel", CLIP_L),
        "text_encoder_2": ("transformers.T5EncoderModel", T5_XXL),
    },
    "flux2-dev": {  # FLUX.2-dev: Mistral Small 3.1 (24 B) text encoder, layers 10/20/30 stacked
        "transformer": ("diffusers.Flux2Transformer2DModel", {
            "patch_size": 1, "in_channels": 128, "num_layers": 8, "num_single_layers": 48,
            "attention_head_dim": 128, "num_attention_heads": 48, "joint_attention_dim": 15360,
            "timestep_guidance_channels": 256, "mlp_ratio": 3.0, "axes_dims_rope": [32, 32, 32, 32],
            "rope_theta": 2000, "guidance_embeds": True}),
        "vae": ("diffusers.AutoencoderKLFlux2", {"latent_channels": 32}),
        "text_encoder": ("transformers.MistralModel", {
            "vocab_size": 131072, "hidden_size": 5120, "intermediate_size": 32768,
            "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 128, "max_position_embeddings": 131072, "rope_theta": 1000000000.0}),
    },
    "flux2-klein-4b": {  # FLUX.2-klein-4B: Qwen3-4B text encoder, layers 9/18/27 stacked
        "transformer": ("diffusers.Flux2Transformer2DModel", {
            "patch_size": 1, "in_channels": 128, "num_layers": 5, "num_single_layers": 20,
            "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 7680,
            "timestep_guidance_channels": 256, "mlp_ratio": 3.0, "axes_dims_rope": [32, 32, 32, 32],
            "rope_theta": 2000, "guidance_embeds": False}),
        "vae": ("diffusers.AutoencoderKLFlux2", {"latent_channels": 32}),
        "text_encoder": ("transformers.Qwen3ForCausalLM", {
            "vocab_size": 151936, "hidden_size": 2560, "intermediate_size": 9728,
            "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 128, "max_position_embeddings": 40960, "tie_word_embeddings": True}),
    },
    "qwen-image": {  # Qwen-Image: Qwen2.5-VL-7B-Instruct text encoder (last hidden layer)
        "transformer": ("diffusers.QwenImageTransformer2DModel", {
            "patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 60,
            "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 3584,
            "guidance_embeds": False, "axes_dims_rope": [16, 56, 56]}),
        "vae": ("diffusers.AutoencoderKLQwenImage", {
            "base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
            "temperal_downsample": [False, True, True]}),
        "text_encoder": ("transformers.Qwen2_5_VLForConditionalGeneration", {
            "text_config": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                            "num_hidden_layers": 28, "num_attention_heads": 28,
                            "num_key_value_heads": 4, "max_position_embeddings": 128000,
                            "rope_theta": 1000000.0,
                            "rope_scaling": {"type": "mrope", "rope_type": "default",
                                             "mrope_section": [16, 24, 24]}},
            "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420,
                              "num_heads": 16, "out_hidden_size": 3584, "patch_size": 14,
                              "spatial_merge_size": 2, "window_size": 112,
                              "fullatt_block_indexes": [7, 15, 23, 31]},
            "vocab_size": 152064, "hidden_size": 3584}),
    },
}

#: The backbone that runs each reference model, and its image size for the GPU check.
BACKBONE_OF = {"sd15": ("sd-regional", 512), "sdxl-base": ("sdxl-regional", 1024),
               "sd35-medium": ("sd3-regional", 1024), "flux1-dev": ("flux-regional", 1024),
               "flux2-dev": ("flux2-regional", 1024), "flux2-klein-4b": ("flux2-regional", 1024),
               "qwen-image": ("qwen-image-regional", 1024)}


def component_class(path: str) -> type:
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build(model: str, part: str, device: Any = "meta", dtype: Any = None, **overrides: Any) -> Any:
    """Component ``part`` of reference ``model`` with random weights on ``device`` (``"meta"``:
    shapes only). ``overrides`` change config fields (e.g. fewer text-encoder layers)."""
    import torch

    path, config = REFERENCE[model][part]
    config = {**config, **overrides}
    cls = component_class(path)
    previous = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if path.startswith("transformers."):
                config_cls = cls.config_class
                return cls(config_cls(**config)).eval()
            return cls(**config).eval()
    finally:
        torch.set_default_dtype(previous)


def parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
