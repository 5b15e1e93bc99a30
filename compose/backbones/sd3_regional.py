"""``sd3-regional``: training-free region prompts for Stable Diffusion 3 / 3.5 (MMDiT).

SD3 attends over one joint sequence of image and text tokens. The text is one segment for the
whole image (every phrase, the background and the style) and one segment per region (each
CLIP-L + CLIP-G + T5 tokens, as SD3 encodes a prompt); an additive mask
(:func:`~compose.backbones.regional_attention.joint_attention_mask`) lets a region's tokens and
the pixels of its box see each other and nothing else of the image, lets every pixel see the base
prompt (scaled by ``base_ratio`` inside boxes) and keeps segments from seeing each other. It is
computed as one attention per region group
(:class:`~compose.backbones.regional_attention.AttentionPlan`), never as a masked attention over
the whole sequence: every attention module gets
:class:`~compose.backbones.regional_attention.SD3RegionalJointAttnProcessor` for the call; the
originals are restored afterwards, also on error. The pooled embedding is the base prompt's.

Needs ``transformers`` and a diffusers-format SD3 folder (or a repo id in the local HF cache);
a folder without T5 (``text_encoder_3=None``) works, as in diffusers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import FlowMatchSampling, repaint_latents, repaint_size

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "stabilityai/stable-diffusion-3.5-medium", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "base_ratio": 0.3, "guidance": 4.5,
    "steps": 28, "resolution": None, "progress": False, "max_sequence_length": 256,
    "region_sequence_length": 64,
}


class SD3RegionalBackbone(DiffusersBackbone):
    """Regional prompting for SD3 through a masked joint attention (see the module docstring).

    Parameters
    ----------
    model, device, dtype, attention_slicing, cpu_offload, guidance, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``).
    base_ratio : float
        Weight of the base prompt's tokens inside boxes, in [0, 1] (0: base prompt only outside
        boxes).
    max_sequence_length : int
        T5 tokens of the base prompt's segment.
    region_sequence_length : int
        T5 tokens of each region's segment (at most ``max_sequence_length``).
    """

    name = "sd3-regional"
    default_steps = 28
    pipeline_class = "StableDiffusion3Pipeline"
    defaults = DEFAULTS

    # ------------------------------------------------------------------ conditioning

    def encode_layout(self, layout: Layout, guidance: float) -> dict[str, Any]:
        """Segmented embeddings (base, then one per region; each CLIP 77 + T5 tokens, the regions'
        T5 part ``region_sequence_length`` long) and the base prompt's pooled embedding."""
        import torch

        prompts = layout_prompts(layout)
        negatives = [prompts.negative] + prompts.region_negatives
        base_length = int(self.options["max_sequence_length"])
        region_length = min(int(self.options["region_sequence_length"]), base_length)

        def encode(texts: list[str], negative: list[str], length: int):
            return self.pipe.encode_prompt(
                prompt=texts, prompt_2=None, prompt_3=None, device=self.pipe._execution_device,
                num_images_per_prompt=1, do_classifier_free_guidance=guidance > 1.0,
                negative_prompt=negative if any(negatives) else None, max_sequence_length=length)

        cond, uncond, pooled, uncond_pooled = encode([prompts.base], negatives[:1], base_length)
        conds, unconds, lengths = [cond[0]], [uncond[0]] if uncond is not None else [], [cond.shape[1]]
        if prompts.regions:
            r_cond, r_uncond, _, _ = encode(prompts.regions, negatives[1:], region_length)
            conds += list(r_cond)
            unconds += list(r_uncond) if r_uncond is not None else []
            lengths += [r_cond.shape[1]] * len(prompts.regions)
        embeds = {"prompt_embeds": torch.cat(conds)[None], "pooled_prompt_embeds": pooled[:1]}
        if uncond is not None:
            embeds["negative_prompt_embeds"] = torch.cat(unconds)[None]
            embeds["negative_pooled_prompt_embeds"] = uncond_pooled[:1]
        return {"embeds": embeds, "instances": prompts.instances, "segment_lengths": lengths}

    def attention_plan(self, layout: Layout, cond: dict[str, Any], height: int, width: int):
        """The region groups of the joint attention (image tokens first, then the segments)."""
        from compose.backbones.regional_attention import joint_attention_plan

        patch = self.pipe.transformer.config.patch_size * self.pipe.vae_scale_factor
        return joint_attention_plan(layout, cond["instances"], (height // patch, width // patch),
                                    cond["segment_lengths"], float(self.options["base_ratio"]),
                                    text_first=False, dtype=self.pipe.transformer.dtype,
                                    device=self.pipe._execution_device)

    def regional_processors(self, plan):
        from compose.backbones.regional_attention import (
            SD3RegionalJointAttnProcessor,
            swapped_processors,
        )

        processor = SD3RegionalJointAttnProcessor(plan, self.capture)
        return swapped_processors(self.pipe.transformer, lambda name, _: processor)

    # ------------------------------------------------------------------ render

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        multiple = self.pipe.vae_scale_factor * self.pipe.transformer.config.patch_size
        for layout, seed in zip(layouts, seeds):
            # 2. encode the base and region prompts into segments, build the joint mask
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

    def noise_predictor(self, cond: dict[str, Any], guidance: float):
        """``predict(x_t, t)``: the transformer's flow prediction (the regional processors must be
        installed), with classifier-free guidance."""
        import torch

        embeds = cond["embeds"]
        cfg = guidance > 1.0 and "negative_prompt_embeds" in embeds
        text, pooled = embeds["prompt_embeds"], embeds["pooled_prompt_embeds"]
        if cfg:
            text = torch.cat([embeds["negative_prompt_embeds"], text])
            pooled = torch.cat([embeds["negative_pooled_prompt_embeds"], pooled])

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            model_input = torch.cat([x, x]) if cfg else x
            flow = self.pipe.transformer(hidden_states=model_input,
                                         timestep=t.expand(model_input.shape[0]),
                                         encoder_hidden_states=text, pooled_projections=pooled).sample
            if cfg:
                u, c = flow.chunk(2)
                flow = u + guidance * (c - u)
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
        patch = self.pipe.vae_scale_factor * self.pipe.transformer.config.patch_size
        for image, mask, layout, seed in zip(images, masks, layouts, seeds):
            # 2. encode the prompts into segments, build the joint mask
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, guidance)
            width, height = repaint_size(image, patch)
            plan = self.attention_plan(layout, cond, height, width)
            timings["encode"] += time.perf_counter() - t0
            # 3. masked re-denoising of the latents with the masking processors, decode, paste back
            t0 = time.perf_counter()
            scheduler = FlowMatchSampling(self.pipe.scheduler,
                                          image_tokens=(height // patch) * (width // patch))
            with self.regional_processors(plan):
                done = repaint_latents(self.pipe.vae, scheduler,
                                       self.noise_predictor(cond, guidance),
                                       image, mask, (width, height), steps,
                                       generator(seed, self.runtime.device),
                                       progress=self.runtime.progress)
            timings["denoise"] += time.perf_counter() - t0
            out.append(done.image)
        # 4. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name, "repaint": True,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance})
