"""``flux2-regional``: training-free region prompts for FLUX.2 (dev and klein; MMDiT).

FLUX.2 attends over one joint sequence, text tokens first and image tokens after, in its
double-stream blocks and in its single-stream ("parallel") blocks. The text is one segment for
the whole image (every phrase, the background and the style) and one per region, each encoded by
the pipeline's own text encoder (Mistral Small 3.1 for dev, Qwen3 for klein). A region's tokens
and the pixels of its box see each other and nothing else of the image; every pixel sees the base
prompt (its weight scaled by ``base_ratio`` inside boxes); segments do not see each other. This
is computed as one attention per region group
(:class:`~compose.backbones.regional_attention.AttentionPlan`), never as a masked attention over
the whole sequence, by processors installed for the call and restored afterwards (also on error).

FLUX.2 gives text tokens rotary positions ``0..L-1``; every segment restarts at 0, so a region's
tokens stand to the image as a prompt of their own would. FLUX.2-dev is guidance-distilled
(``guidance`` is its embedded guidance, no negatives); klein base models use true classifier-free
guidance when ``guidance > 1``, each region with its own negative prompt; distilled klein models
(``is_distilled``) use none.

Needs ``transformers`` and a diffusers-format FLUX.2 folder (or a repo id in the local HF cache).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength, paste_outside
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import FlowMatchSampling, mask_to_latent, repaint_size
from compose.errors import BackboneError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from compose.backbones.regional_attention import AttentionPlan
    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "black-forest-labs/FLUX.2-klein-4B", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "base_ratio": 0.3, "guidance": 4.0,
    "steps": 28, "resolution": None, "progress": False, "max_sequence_length": 512,
    "region_sequence_length": 64, "text_encoder_out_layers": None,
}
PIPELINES = ("Flux2Pipeline", "Flux2KleinPipeline")


# Copied from diffusers.pipelines.flux2.pipeline_flux2.Flux2Pipeline._prepare_text_ids
def prepare_text_ids(x: torch.Tensor, t_coord: torch.Tensor | None = None) -> torch.Tensor:
    import torch

    B, L, _ = x.shape
    out_ids = []
    for i in range(B):
        t = torch.arange(1) if t_coord is None else t_coord[i]
        out_ids.append(torch.cartesian_prod(t, torch.arange(1), torch.arange(1), torch.arange(L)))
    return torch.stack(out_ids)


# Copied from diffusers.pipelines.flux2.pipeline_flux2.Flux2Pipeline._prepare_latent_ids
def prepare_latent_ids(latents: torch.Tensor) -> torch.Tensor:
    import torch

    batch_size, _, height, width = latents.shape
    latent_ids = torch.cartesian_prod(torch.arange(1), torch.arange(height), torch.arange(width),
                                      torch.arange(1))
    return latent_ids.unsqueeze(0).expand(batch_size, -1, -1)


# Copied from diffusers.pipelines.flux2.pipeline_flux2.Flux2Pipeline._patchify_latents
def patchify_latents(latents: torch.Tensor) -> torch.Tensor:
    batch_size, num_channels_latents, height, width = latents.shape
    latents = latents.view(batch_size, num_channels_latents, height // 2, 2, width // 2, 2)
    latents = latents.permute(0, 1, 3, 5, 2, 4)
    return latents.reshape(batch_size, num_channels_latents * 4, height // 2, width // 2)


# Copied from diffusers.pipelines.flux2.pipeline_flux2.Flux2Pipeline._unpatchify_latents
def unpatchify_latents(latents: torch.Tensor) -> torch.Tensor:
    batch_size, num_channels_latents, height, width = latents.shape
    latents = latents.reshape(batch_size, num_channels_latents // (2 * 2), 2, 2, height, width)
    latents = latents.permute(0, 1, 4, 2, 5, 3)
    return latents.reshape(batch_size, num_channels_latents // (2 * 2), height * 2, width * 2)


# Copied from diffusers.pipelines.flux2.pipeline_flux2.Flux2Pipeline._pack_latents
def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    batch_size, num_channels, height, width = latents.shape
    return latents.reshape(batch_size, num_channels, height * width).permute(0, 2, 1)


def restarted_rotary(rotary: tuple, segment_lengths: list[int]) -> tuple:
    """FLUX.2's ``(cos, sin)`` over [text, image] with every text segment's positions restarting
    at 0 (the text rows are indexed by position alone, so row ``i`` is position ``i``)."""
    import torch

    text = sum(segment_lengths)
    device = rotary[0].device
    rows = torch.cat([torch.arange(n, device=device) for n in segment_lengths]
                     + [torch.arange(text, rotary[0].shape[0], device=device)])
    return tuple(r.index_select(0, rows) for r in rotary)


class _Flux2Regional:
    """Shared part of the two processors: the plan, the restarted rotary (cached per forward)."""

    def __init__(self, plan: AttentionPlan, capture: list | None = None) -> None:
        self.plan = plan
        self.capture = capture
        self._rotary: tuple[Any, tuple] | None = None

    def rotary(self, rotary: tuple | None) -> tuple | None:
        if rotary is None:
            return None
        key = (rotary[0].data_ptr(), tuple(rotary[0].shape))
        if self._rotary is None or self._rotary[0] != key:
            self._rotary = (key, restarted_rotary(rotary, self.plan.segment_lengths))
        return self._rotary[1]

    def attend(self, query, key, value):
        from compose.backbones.regional_attention import grouped_attention

        out = grouped_attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2),
                                self.plan, capture=self.capture)
        return out.transpose(1, 2)


class Flux2RegionalAttnProcessor(_Flux2Regional):
    """diffusers' ``Flux2AttnProcessor`` (double-stream blocks) with the joint attention split by
    region groups and the text positions restarted per segment."""

    # Copied from diffusers.models.transformers.transformer_flux2.Flux2AttnProcessor.__call__
    # (dispatch_attention_fn replaced by grouped attention; the rotary restarted per segment)
    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: Any = None) -> Any:
        import torch
        from diffusers.models.transformers.transformer_flux2 import (
            _get_qkv_projections,
            apply_rotary_emb,
        )

        query, key, value, encoder_query, encoder_key, encoder_value = _get_qkv_projections(
            attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query.unflatten(-1, (-1, attn.head_dim)))
        key = attn.norm_k(key.unflatten(-1, (-1, attn.head_dim)))
        value = value.unflatten(-1, (-1, attn.head_dim))
        if attn.added_kv_proj_dim is not None:
            encoder_query = attn.norm_added_q(encoder_query.unflatten(-1, (-1, attn.head_dim)))
            encoder_key = attn.norm_added_k(encoder_key.unflatten(-1, (-1, attn.head_dim)))
            encoder_value = encoder_value.unflatten(-1, (-1, attn.head_dim))
            query = torch.cat([encoder_query, query], dim=1)
            key = torch.cat([encoder_key, key], dim=1)
            value = torch.cat([encoder_value, value], dim=1)
        rotary = self.rotary(image_rotary_emb)
        if rotary is not None:
            query = apply_rotary_emb(query, rotary, sequence_dim=1)
            key = apply_rotary_emb(key, rotary, sequence_dim=1)
        hidden_states = self.attend(query, key, value).flatten(2, 3).to(query.dtype)
        if encoder_hidden_states is not None:
            encoder_hidden_states, hidden_states = hidden_states.split_with_sizes(
                [encoder_hidden_states.shape[1], hidden_states.shape[1] - encoder_hidden_states.shape[1]], dim=1)
            encoder_hidden_states = attn.to_add_out(encoder_hidden_states)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if encoder_hidden_states is not None:
            return hidden_states, encoder_hidden_states
        return hidden_states


class Flux2RegionalParallelAttnProcessor(_Flux2Regional):
    """diffusers' ``Flux2ParallelSelfAttnProcessor`` (single-stream blocks: attention and MLP from
    one projection) with the attention split by region groups."""

    # Copied from diffusers.models.transformers.transformer_flux2.Flux2ParallelSelfAttnProcessor.__call__
    # (dispatch_attention_fn replaced by grouped attention; the rotary restarted per segment)
    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None, image_rotary_emb: Any = None) -> Any:
        import torch
        from diffusers.models.transformers.transformer_flux2 import apply_rotary_emb

        hidden_states = attn.to_qkv_mlp_proj(hidden_states)
        qkv_dim = 3 * attn.inner_dim
        mlp_dim = attn.mlp_hidden_dim * attn.mlp_mult_factor
        local_qkv = hidden_states.shape[-1] * qkv_dim // (qkv_dim + mlp_dim)
        qkv, mlp_hidden_states = torch.split(hidden_states, [local_qkv, hidden_states.shape[-1] - local_qkv], dim=-1)
        query, key, value = qkv.chunk(3, dim=-1)
        query = attn.norm_q(query.unflatten(-1, (-1, attn.head_dim)))
        key = attn.norm_k(key.unflatten(-1, (-1, attn.head_dim)))
        value = value.unflatten(-1, (-1, attn.head_dim))
        rotary = self.rotary(image_rotary_emb)
        if rotary is not None:
            query = apply_rotary_emb(query, rotary, sequence_dim=1)
            key = apply_rotary_emb(key, rotary, sequence_dim=1)
        hidden_states = self.attend(query, key, value).flatten(2, 3).to(query.dtype)
        mlp_hidden_states = attn.mlp_act_fn(mlp_hidden_states)
        return attn.to_out(torch.cat([hidden_states, mlp_hidden_states], dim=-1))


class Flux2RegionalBackbone(DiffusersBackbone):
    """Regional prompting for FLUX.2 through grouped joint attention (see the module docstring).

    Parameters
    ----------
    model, device, dtype, attention_slicing, cpu_offload, guidance, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``). ``guidance`` is FLUX.2-dev's
        embedded guidance, klein's classifier-free guidance scale.
    base_ratio : float
        Weight of the base prompt's tokens inside boxes, in [0, 1].
    max_sequence_length : int
        Text tokens of the base prompt's segment.
    region_sequence_length : int
        Text tokens of each region's segment (at most ``max_sequence_length``).
    text_encoder_out_layers : list of int, optional
        The text encoder's hidden layers stacked into the embedding (the pipeline's default when
        not given: dev (10, 20, 30), klein (9, 18, 27)).
    """

    name = "flux2-regional"
    default_steps = 28
    pipeline_class = "DiffusionPipeline"  # dev or klein, as the folder says
    defaults = DEFAULTS

    def check_pipeline(self, pipe: Any) -> None:
        if type(pipe).__name__ not in PIPELINES:
            raise BackboneError("E406", argument="model", value=str(self.options["model"]), name=self.name,
                                expected=f"expected a FLUX.2 pipeline ({', '.join(PIPELINES)}), "
                                         f"found {type(pipe).__name__}")

    # ------------------------------------------------------------------ conditioning

    @property
    def klein(self) -> bool:
        return type(self.pipe).__name__ == "Flux2KleinPipeline"

    def true_cfg(self, guidance: float) -> bool:
        """Klein base models guide with a negative prompt; dev and distilled klein do not."""
        return self.klein and guidance > 1.0 and not self.pipe.config.get("is_distilled", False)

    def segments(self, base: str, regions: list[str]) -> tuple[torch.Tensor, list[int]]:
        """``(1, base_length + regions * region_length, dim)`` embeddings, one segment each."""
        import torch

        base_length = int(self.options["max_sequence_length"])
        region_length = min(int(self.options["region_sequence_length"]), base_length)
        extra = {}
        if self.options["text_encoder_out_layers"] is not None:
            extra["text_encoder_out_layers"] = tuple(int(k) for k in self.options["text_encoder_out_layers"])

        def encode(texts: list[str], length: int) -> torch.Tensor:
            embeds, _ = self.pipe.encode_prompt(prompt=texts, device=self.pipe._execution_device,
                                                max_sequence_length=length, **extra)
            return embeds

        parts = [encode([base], base_length)[0]]
        if regions:
            parts += list(encode(regions, region_length))
        return torch.cat(parts)[None], [base_length] + [region_length] * len(regions)

    def encode_layout(self, layout: Layout, guidance: float) -> dict[str, Any]:
        """Segmented embeddings (base, then one per region) and, with true guidance, the negatives
        in the same segments (each region its own negative)."""
        prompts = layout_prompts(layout)
        cond, lengths = self.segments(prompts.base, prompts.regions)
        embeds = {"prompt_embeds": cond}
        if self.true_cfg(guidance):
            embeds["negative_prompt_embeds"], _ = self.segments(prompts.negative, prompts.region_negatives)
        return {"embeds": embeds, "instances": prompts.instances, "segment_lengths": lengths}

    def attention_plan(self, layout: Layout, cond: dict[str, Any], height: int, width: int):
        """The region groups of the joint attention (the segments first, then the image tokens)."""
        from compose.backbones.regional_attention import joint_attention_plan

        patch = self.pipe.vae_scale_factor * 2  # FLUX.2 packs 2x2 latent patches into one token
        return joint_attention_plan(layout, cond["instances"], (height // patch, width // patch),
                                    cond["segment_lengths"], float(self.options["base_ratio"]),
                                    text_first=True, dtype=self.pipe.transformer.dtype,
                                    device=self.pipe._execution_device)

    def regional_processors(self, plan: AttentionPlan):
        """Every attention of the transformer split by region groups, for a ``with`` block."""
        from compose.backbones.regional_attention import swapped_processors

        double = Flux2RegionalAttnProcessor(plan, self.capture)
        single = Flux2RegionalParallelAttnProcessor(plan, self.capture)
        return swapped_processors(self.pipe.transformer,
                                  lambda name, _: single if name.startswith("single_") else double)

    # ------------------------------------------------------------------ render

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        multiple = self.pipe.vae_scale_factor * 2
        for layout, seed in zip(layouts, seeds):
            # 2. encode the base and region prompts into segments, plan the attention groups
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, guidance)
            width, height = render_size(layout, multiple, self.options["resolution"])
            plan = self.attention_plan(layout, cond, height, width)
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with the regional processors installed, decode
            t0 = time.perf_counter()
            with self.regional_processors(plan):
                out = self.pipe(**cond["embeds"], height=height, width=width,
                                num_inference_steps=steps, guidance_scale=guidance,
                                generator=generator(seed, self.runtime.device))
            timings["denoise"] += time.perf_counter() - t0
            images.append(out.images[0])
        # 4. report what was done
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name,
                                                   "pipeline": type(self.pipe).__name__,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance,
                                                   "base_ratio": self.options["base_ratio"],
                                                   "device": self.runtime.device,
                                                   "dtype": self.runtime.dtype})

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, cond: dict[str, Any], guidance: float, latent_size: tuple[int, int]):
        """``predict(x_t, t)`` on packed latents ``(1, h * w, c)`` of an ``h x w`` token grid: the
        transformer's flow prediction (the regional processors must be installed), with FLUX.2's
        embedded guidance or klein's true guidance."""
        import torch

        embeds = cond["embeds"]
        transformer = self.pipe.transformer
        device = self.pipe._execution_device
        h, w = latent_size
        image_ids = prepare_latent_ids(torch.zeros(1, 1, h, w)).to(device)
        text_ids = prepare_text_ids(embeds["prompt_embeds"]).to(device)
        embedded = (torch.full([1], guidance, device=device, dtype=torch.float32)
                    if transformer.config.guidance_embeds else None)
        true_cfg = "negative_prompt_embeds" in embeds

        def run(x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
            return transformer(hidden_states=x.to(transformer.dtype),
                               timestep=(t / 1000).expand(x.shape[0]).to(x.dtype), guidance=embedded,
                               encoder_hidden_states=text, txt_ids=text_ids, img_ids=image_ids,
                               return_dict=False)[0]

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            flow = run(x, t, embeds["prompt_embeds"])
            if true_cfg:
                neg = run(x, t, embeds["negative_prompt_embeds"])
                flow = neg + guidance * (flow - neg)
            return flow

        return predict

    def encode_tokens(self, image: Image.Image, size: tuple[int, int], gen: Any) -> torch.Tensor:
        """``image`` at ``size`` -> the transformer's normalised, packed latent tokens ``(1, h * w, c)``."""
        import numpy as np
        import torch
        from PIL import Image as PILImage

        rgb = image.convert("RGB")
        if rgb.size != tuple(size):
            rgb = rgb.resize(tuple(size), PILImage.BICUBIC)
        pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        vae = self.pipe.vae
        with torch.no_grad():  # as Flux2Pipeline._encode_vae_image: the mode, patchified, normalised
            latents = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
        latents = patchify_latents(latents)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(latents)
        return pack_latents((latents - mean) / std)

    def decode_tokens(self, tokens: torch.Tensor, size: tuple[int, int]) -> Image.Image:
        """Packed latent tokens of a ``size`` (width, height) image -> the RGB image."""
        import numpy as np
        import torch
        from PIL import Image as PILImage

        vae = self.pipe.vae
        w, h = size[0] // (self.pipe.vae_scale_factor * 2), size[1] // (self.pipe.vae_scale_factor * 2)
        latents = tokens.reshape(1, h, w, -1).permute(0, 3, 1, 2)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(latents)
        latents = unpatchify_latents(latents * std + mean)
        with torch.no_grad():
            pixels = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
        array = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        return PILImage.fromarray(np.ascontiguousarray(array))

    def repaint_one(self, image: Image.Image, mask: Image.Image, layout: Layout, seed: int,
                    steps: int, guidance: float) -> dict[str, Any]:
        """One masked re-denoising: ``{"image", "latents", "known", "mask"}`` (tokens; the latents
        equal ``known`` wherever ``mask`` is 0)."""
        import torch
        from diffusers.pipelines.flux2.pipeline_flux2 import compute_empirical_mu

        from compose.backbones.sampling import sample

        cond = self.encode_layout(layout, guidance)
        width, height = repaint_size(image, self.pipe.vae_scale_factor * 2)
        plan = self.attention_plan(layout, cond, height, width)
        h, w = height // (self.pipe.vae_scale_factor * 2), width // (self.pipe.vae_scale_factor * 2)
        gen = generator(seed, self.runtime.device)
        known = self.encode_tokens(image, (width, height), gen).float()
        token_mask = mask_to_latent(mask, h, w).reshape(1, h * w, 1).to(known).expand_as(known).contiguous()
        scheduler = FlowMatchSampling(self.pipe.scheduler, image_tokens=h * w, flux_sigmas=True,
                                      mu=lambda n: compute_empirical_mu(h * w, n))
        x_T = torch.randn(known.shape, generator=gen, device=gen.device).to(known)
        with self.regional_processors(plan), torch.no_grad():
            latents = sample(self.noise_predictor(cond, guidance, (h, w)), scheduler, x_T, steps,
                             known=known, mask=token_mask, generator=gen,
                             progress=self.runtime.progress)
        decoded = self.decode_tokens(latents, (width, height))
        return {"image": paste_outside(image, decoded, mask), "latents": latents, "known": known,
                "mask": token_mask}

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance, images=images, masks=masks)
        check_strength(self.name, strength)
        out, t0 = [], time.perf_counter()
        # 2. masked re-denoising of the packed latents with the regional processors, decode, paste back
        for image, mask, layout, seed in zip(images, masks, layouts, seeds):
            out.append(self.repaint_one(image, mask, layout, int(seed), steps, guidance)["image"])
        # 3. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings={"denoise": time.perf_counter() - t0},
                            info={"backbone": self.name, "repaint": True,
                                  "model": str(self.options["model"]), "guidance": guidance})
