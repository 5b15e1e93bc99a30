"""``sdxl-regional``: training-free region prompts for any SDXL checkpoint.

The same mechanism as ``sd-regional`` (:mod:`compose.backbones.sd_regional`): segmented prompt
embeddings (base, then one per region; both text encoders, concatenated as SDXL does) and the
UNet's cross-attention processors replaced for the call by
:class:`~compose.backbones.regional_attention.RegionalCrossAttnProcessor`. SDXL's pooled text
embedding (its micro-conditioning) comes from the base prompt alone. The original processors are
restored after every call, also when it fails.

Needs ``transformers`` and a diffusers-format SDXL folder (or a repo id in the local HF cache).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from compose.backbones.base import RenderResult
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import generator
from compose.backbones.sd_regional import DEFAULTS, SDRegionalBackbone

if TYPE_CHECKING:  # pragma: no cover
    from compose.layouts import Layout


class SDXLRegionalBackbone(SDRegionalBackbone):
    """Regional prompting for SDXL; options as :class:`~compose.backbones.sd_regional.SDRegionalBackbone`
    (default model ``stabilityai/stable-diffusion-xl-base-1.0``, 1024 px)."""

    name = "sdxl-regional"
    pipeline_class = "StableDiffusionXLPipeline"
    defaults: ClassVar[dict[str, Any]] = {**DEFAULTS, "model": "stabilityai/stable-diffusion-xl-base-1.0", "guidance": 5.0}

    def encode_layout(self, layout: Layout, guidance: float) -> dict[str, Any]:
        """Segmented embeddings ``(1, segments * 77, dim)``; pooled embeddings of the base prompt."""
        prompts = layout_prompts(layout)
        texts = [prompts.base] + prompts.regions
        negatives = [prompts.negative] + prompts.region_negatives
        cond, uncond, pooled, uncond_pooled = self.pipe.encode_prompt(
            prompt=texts, device=self.pipe._execution_device, num_images_per_prompt=1,
            do_classifier_free_guidance=guidance > 1.0,
            negative_prompt=negatives if any(negatives) else None)
        embeds = {"prompt_embeds": cond.reshape(1, -1, cond.shape[-1]),
                  "pooled_prompt_embeds": pooled[:1]}
        if uncond is not None:
            embeds["negative_prompt_embeds"] = uncond.reshape(1, -1, uncond.shape[-1])
            embeds["negative_pooled_prompt_embeds"] = uncond_pooled[:1]
        return {"embeds": embeds, "instances": prompts.instances, "segment_length": cond.shape[1]}

    def unet_extra_inputs(self, cond: dict[str, Any], size: tuple[int, int], batch: int) -> dict:
        """SDXL's micro-conditioning: pooled text embeddings and (original, crop, target) sizes."""
        import torch

        embeds = cond["embeds"]
        pooled = embeds["pooled_prompt_embeds"]
        if batch == 2:
            pooled = torch.cat([embeds["negative_pooled_prompt_embeds"], pooled])
        width, height = size
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=pooled.dtype,
                                device=pooled.device).repeat(batch, 1)
        return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids}}

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        scale = self.pipe.vae_scale_factor
        for layout, seed in zip(layouts, seeds):
            # 2. encode the base and region prompts (both encoders) into segments
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, guidance)
            width, height = render_size(layout, scale, self.options["resolution"])
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with the regional processors installed, decode
            t0 = time.perf_counter()
            with self.regional_processors(layout, cond["instances"], cond["segment_length"],
                                          (height // scale, width // scale)):
                out = self.pipe(**cond["embeds"], height=height, width=width,
                                original_size=(height, width), target_size=(height, width),
                                num_inference_steps=steps, guidance_scale=guidance,
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

