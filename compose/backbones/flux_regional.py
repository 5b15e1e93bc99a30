"""``flux-regional``: training-free region prompts for FLUX.1 (MMDiT).

FLUX attends over one joint sequence, text tokens first and image tokens after. The text is one
T5 segment for the whole image (every phrase, the background and the style) and one per region;
an additive mask (:func:`~compose.backbones.regional_attention.joint_attention_mask`) lets a
region's tokens and the pixels of its box see each other and nothing else of the image, lets
every pixel see the base prompt (scaled by ``base_ratio`` inside boxes) and keeps segments apart.
It is computed as one attention per region group
(:class:`~compose.backbones.regional_attention.AttentionPlan`) by
:class:`~compose.backbones.regional_attention.FluxRegionalAttnProcessor`, installed in the double-
and single-stream blocks for the call (FLUX's own processor would take the mask, but a mask over
the whole sequence keeps SDPA off its fused kernels). Text token positions
are all zero in FLUX's rotary embedding, so segments need no position shift. The pooled (CLIP)
embedding is the base prompt's. Negative prompts apply only with ``true_cfg > 1`` (FLUX-dev is
guidance-distilled; ``guidance`` is its embedded guidance).

Needs ``transformers`` and a diffusers-format FLUX folder (or a repo id in the local HF cache).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import FlowMatchSampling, repaint_latents, repaint_size

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "black-forest-labs/FLUX.1-dev", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "base_ratio": 0.3, "guidance": 3.5,
    "steps": 28, "resolution": None, "progress": False, "max_sequence_length": 512,
    "region_sequence_length": 64, "true_cfg": 1.0,
}


# Copied from diffusers.pipelines.flux.pipeline_flux.FluxPipeline._prepare_latent_image_ids
def prepare_latent_image_ids(batch_size: int, height: int, width: int, device: Any, dtype: Any) -> torch.Tensor:
    import torch

    latent_image_ids = torch.zeros(height, width, 3)
    latent_image_ids[..., 1] = latent_image_ids[..., 1] + torch.arange(height)[:, None]
    latent_image_ids[..., 2] = latent_image_ids[..., 2] + torch.arange(width)[None, :]
    h, w, c = latent_image_ids.shape
    return latent_image_ids.reshape(h * w, c).to(device=device, dtype=dtype)


# Copied from diffusers.pipelines.flux.pipeline_flux.FluxPipeline._pack_latents
def pack_latents(latents: torch.Tensor, batch_size: int, num_channels_latents: int, height: int,
                 width: int) -> torch.Tensor:
    latents = latents.view(batch_size, num_channels_latents, height // 2, 2, width // 2, 2)
    latents = latents.permute(0, 2, 4, 1, 3, 5)
    return latents.reshape(batch_size, (height // 2) * (width // 2), num_channels_latents * 4)


# Copied from diffusers.pipelines.flux.pipeline_flux.FluxPipeline._unpack_latents
def unpack_latents(latents: torch.Tensor, height: int, width: int, vae_scale_factor: int) -> torch.Tensor:
    batch_size, _, channels = latents.shape
    # VAE applies 8x compression on images but we must also account for packing which requires
    # latent height and width to be divisible by 2.
    height = 2 * (int(height) // (vae_scale_factor * 2))
    width = 2 * (int(width) // (vae_scale_factor * 2))
    latents = latents.view(batch_size, height // 2, width // 2, channels // 4, 2, 2)
    latents = latents.permute(0, 3, 1, 4, 2, 5)
    return latents.reshape(batch_size, channels // (2 * 2), height, width)


class FluxRegionalBackbone(DiffusersBackbone):
    """Regional prompting for FLUX through its joint attention mask (see the module docstring).

    Parameters
    ----------
    model, device, dtype, attention_slicing, cpu_offload, guidance, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``).
    base_ratio : float
        Weight of the base prompt's tokens inside boxes, in [0, 1].
    max_sequence_length : int
        T5 tokens of the base prompt's segment.
    region_sequence_length : int
        T5 tokens of each region's segment (at most ``max_sequence_length``); the joint sequence
        grows by this per region.
    true_cfg : float
        True classifier-free guidance scale; above 1 the negative prompts are used (two passes).
    """

    name = "flux-regional"
    default_steps = 28
    pipeline_class = "FluxPipeline"
    defaults = DEFAULTS

    # ------------------------------------------------------------------ conditioning

    def encode_texts(self, texts: list[str], length: int):
        embeds, pooled, _ = self.pipe.encode_prompt(
            prompt=texts, prompt_2=None, device=self.pipe._execution_device,
            num_images_per_prompt=1, max_sequence_length=length)
        return embeds, pooled

    def segments(self, base: str, regions: list[str]):
        """``(1, base_length + regions * region_length, dim)`` T5 embeddings and the base prompt's
        pooled CLIP embedding; region phrases are short, so their segments are too."""
        import torch

        base_length = int(self.options["max_sequence_length"])
        region_length = min(int(self.options["region_sequence_length"]), base_length)
        embeds, pooled = self.encode_texts([base], base_length)
        parts = [embeds[0]]
        if regions:
            parts += list(self.encode_texts(regions, region_length)[0])
        return torch.cat(parts)[None], pooled[:1], [base_length] + [region_length] * len(regions)

    def encode_layout(self, layout: Layout) -> dict[str, Any]:
        """Segmented T5 embeddings (base, then one per region), the base prompt's pooled CLIP
        embedding, and the negatives when ``true_cfg > 1``."""
        prompts = layout_prompts(layout)
        cond, pooled, lengths = self.segments(prompts.base, prompts.regions)
        embeds = {"prompt_embeds": cond, "pooled_prompt_embeds": pooled}
        if float(self.options["true_cfg"]) > 1.0:
            uncond, uncond_pooled, _ = self.segments(prompts.negative, prompts.region_negatives)
            embeds.update(negative_prompt_embeds=uncond, negative_pooled_prompt_embeds=uncond_pooled)
        return {"embeds": embeds, "instances": prompts.instances, "segment_lengths": lengths}

    def attention_plan(self, layout: Layout, cond: dict[str, Any], height: int, width: int):
        """The region groups of the joint attention (the segments first, then the image tokens)."""
        from compose.backbones.regional_attention import joint_attention_plan

        patch = self.pipe.vae_scale_factor * 2  # FLUX packs 2x2 latent patches into one token
        return joint_attention_plan(layout, cond["instances"], (height // patch, width // patch),
                                    cond["segment_lengths"], float(self.options["base_ratio"]),
                                    text_first=True, dtype=self.pipe.transformer.dtype,
                                    device=self.pipe._execution_device)

    def regional_processors(self, plan):
        """Every attention of the transformer split by region groups, for a ``with`` block."""
        from compose.backbones.regional_attention import (
            FluxRegionalAttnProcessor,
            swapped_processors,
        )

        processor = FluxRegionalAttnProcessor(plan, self.capture)
        return swapped_processors(self.pipe.transformer, lambda name, _: processor)

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
            # 2. encode the base and region prompts into segments, build the joint mask
            t0 = time.perf_counter()
            cond = self.encode_layout(layout)
            width, height = render_size(layout, multiple, self.options["resolution"])
            plan = self.attention_plan(layout, cond, height, width)
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with the regional processors installed, decode
            t0 = time.perf_counter()
            with self.regional_processors(plan):
                out = self.pipe(**cond["embeds"], height=height, width=width,
                                num_inference_steps=steps, guidance_scale=guidance,
                                true_cfg_scale=float(self.options["true_cfg"]),
                                max_sequence_length=int(self.options["max_sequence_length"]),
                                generator=generator(seed, self.runtime.device))
            timings["denoise"] += time.perf_counter() - t0
            images.append(out.images[0])
        # 4. report what was done
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance,
                                                   "base_ratio": self.options["base_ratio"],
                                                   "device": self.runtime.device,
                                                   "dtype": self.runtime.dtype})

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, cond: dict[str, Any], guidance: float, latent_size: tuple[int, int]):
        """``predict(x_t, t)`` on packed latents: the transformer's flow prediction (the regional
        processors must be installed; embedded guidance; true CFG with the negatives when
        ``true_cfg > 1``)."""
        import torch
        embeds = cond["embeds"]
        transformer = self.pipe.transformer
        device, dtype = self.pipe._execution_device, transformer.dtype
        h, w = latent_size
        image_ids = prepare_latent_image_ids(1, h // 2, w // 2, device, dtype)
        text_ids = torch.zeros(embeds["prompt_embeds"].shape[1], 3, device=device, dtype=dtype)
        embedded = (torch.full([1], guidance, device=device, dtype=torch.float32)
                    if transformer.config.guidance_embeds else None)
        true_cfg = float(self.options["true_cfg"])

        def run(x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, pooled: torch.Tensor):
            return transformer(hidden_states=x, timestep=(t / 1000).expand(x.shape[0]).to(x.dtype),
                               guidance=embedded, pooled_projections=pooled,
                               encoder_hidden_states=text, txt_ids=text_ids, img_ids=image_ids).sample

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            flow = run(x, t, embeds["prompt_embeds"], embeds["pooled_prompt_embeds"])
            if true_cfg > 1.0 and "negative_prompt_embeds" in embeds:
                neg = run(x, t, embeds["negative_prompt_embeds"], embeds["negative_pooled_prompt_embeds"])
                flow = neg + true_cfg * (flow - neg)
            return flow

        return predict

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance, images=images, masks=masks)
        check_strength(self.name, strength)
        out, timings = [], {"encode": 0.0, "denoise": 0.0}
        scale = self.pipe.vae_scale_factor
        for image, mask, layout, seed in zip(images, masks, layouts, seeds):
            # 2. encode the prompts into segments, build the joint mask
            t0 = time.perf_counter()
            cond = self.encode_layout(layout)
            width, height = repaint_size(image, scale * 2)
            plan = self.attention_plan(layout, cond, height, width)
            h, w = height // scale, width // scale
            timings["encode"] += time.perf_counter() - t0
            # 3. masked re-denoising of the packed latents, decode, paste back
            t0 = time.perf_counter()
            channels = self.pipe.transformer.config.in_channels // 4
            scheduler = FlowMatchSampling(self.pipe.scheduler, image_tokens=(h // 2) * (w // 2),
                                          flux_sigmas=True)
            with self.regional_processors(plan):
                done = repaint_latents(
                    self.pipe.vae, scheduler, self.noise_predictor(cond, guidance, (h, w)), image, mask,
                    (width, height), steps, generator(seed, self.runtime.device),
                    pack=lambda z, c=channels, h=h, w=w: pack_latents(z, z.shape[0], c, h, w),
                    unpack=lambda z, h=height, w=width: unpack_latents(z, h, w, scale),
                    progress=self.runtime.progress)
            timings["denoise"] += time.perf_counter() - t0
            out.append(done.image)
        # 4. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name, "repaint": True,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance})
