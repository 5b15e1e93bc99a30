"""``sd-regional``: training-free region prompts for any Stable Diffusion 1.x/2.x checkpoint.

Each region's phrase conditions only its box: the prompt embeddings are one 77-token segment for
the whole image (every phrase, the background and the style) and one per region, and every
cross-attention processor of the UNet is replaced for the call by
:class:`~compose.backbones.regional_attention.RegionalCrossAttnProcessor`, which blends the
segments per pixel with box masks built at each attention resolution (``base_ratio`` of the base
prompt inside boxes, the base prompt alone outside them, the front-most box where boxes overlap).
Each region can have its own negative prompt (``Region.attributes["negative"]``). The original
processors are restored after every call, also when it fails.

Needs ``transformers`` and a diffusers-format SD 1.x/2.x folder (or a repo id in the local HF
cache); nothing is downloaded.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import repaint_latents, repaint_size

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "stable-diffusion-v1-5/stable-diffusion-v1-5", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "base_ratio": 0.3, "guidance": 7.5,
    "steps": 30, "resolution": None, "progress": False,
}


class SDRegionalBackbone(DiffusersBackbone):
    """Regional prompting for SD 1.x/2.x (see the module docstring).

    Parameters
    ----------
    model : str
        A diffusers folder, or a repo id found in the local Hugging Face cache.
    device, dtype : str
        ``cuda``/``mps``/``cpu`` (default: the best present); ``fp16``/``bf16``/``fp32``.
    attention_slicing, cpu_offload
        Memory savers passed to diffusers (``cpu_offload``: ``"model"`` or ``"sequential"``).
    base_ratio : float
        Share of the whole-image prompt inside boxes, in [0, 1].
    guidance, steps, resolution
        Defaults for calls; ``resolution`` scales the canvas so its longest side is that many pixels.
    config : str, optional
        A ``backbones.toml``/``.json`` with a ``[sd-regional]`` table of these options.
    """

    name = "sd-regional"
    default_steps = 30
    pipeline_class = "StableDiffusionPipeline"
    defaults = DEFAULTS

    # ------------------------------------------------------------------ conditioning

    def encode_layout(self, layout: Layout, guidance: float) -> dict[str, Any]:
        """Prompt embeddings ``(1, segments * 77, dim)`` (base first, then regions back to front)
        and the matching negative embeddings."""
        prompts = layout_prompts(layout)
        texts = [prompts.base] + prompts.regions
        negatives = [prompts.negative] + prompts.region_negatives
        cond, uncond = self.pipe.encode_prompt(
            texts, self.pipe._execution_device, 1, guidance > 1.0,
            negatives if any(negatives) else None)
        embeds = {"prompt_embeds": cond.reshape(1, -1, cond.shape[-1])}
        if uncond is not None:
            embeds["negative_prompt_embeds"] = uncond.reshape(1, -1, uncond.shape[-1])
        return {"embeds": embeds, "instances": prompts.instances, "segment_length": cond.shape[1]}

    def regional_processors(self, layout: Layout, instances: list[str], segment_length: int,
                            latent_size: tuple[int, int]):
        from compose.backbones.regional_attention import (
            RegionalCrossAttnProcessor,
            is_cross_attention,
            swapped_processors,
        )

        processor = RegionalCrossAttnProcessor(layout, instances, latent_size, segment_length,
                                               float(self.options["base_ratio"]), self.capture)
        return swapped_processors(self.pipe.unet,
                                  lambda name, _: processor if is_cross_attention(name) else None)

    # ------------------------------------------------------------------ render

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        scale = self.pipe.vae_scale_factor
        for layout, seed in zip(layouts, seeds):
            # 2. encode the base and region prompts into segments
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, guidance)
            width, height = render_size(layout, scale, self.options["resolution"])
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with the regional processors installed, decode
            t0 = time.perf_counter()
            with self.regional_processors(layout, cond["instances"], cond["segment_length"],
                                          (height // scale, width // scale)):
                out = self.pipe(**cond["embeds"], height=height, width=width,
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

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, cond: dict[str, Any], guidance: float, size: tuple[int, int]):
        """``predict(x_t, t)``: the UNet's noise prediction with classifier-free guidance."""
        import torch

        embeds = cond["embeds"]
        cfg = guidance > 1.0 and "negative_prompt_embeds" in embeds
        text = (torch.cat([embeds["negative_prompt_embeds"], embeds["prompt_embeds"]]) if cfg
                else embeds["prompt_embeds"])
        extra = self.unet_extra_inputs(cond, size, 2 if cfg else 1)

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            model_input = torch.cat([x, x]) if cfg else x
            noise = self.pipe.unet(model_input, t, encoder_hidden_states=text, **extra).sample
            if cfg:
                uncond, cond_ = noise.chunk(2)
                noise = uncond + guidance * (cond_ - uncond)
            return noise

        return predict

    def unet_extra_inputs(self, cond: dict[str, Any], size: tuple[int, int], batch: int) -> dict:
        """Further UNet inputs (SDXL adds its micro-conditioning)."""
        return {}

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
            # 2. encode the prompts into segments
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, guidance)
            width, height = repaint_size(image, scale)
            timings["encode"] += time.perf_counter() - t0
            # 3. masked re-denoising of the latents with the regional processors, decode, paste back
            t0 = time.perf_counter()
            with self.regional_processors(layout, cond["instances"], cond["segment_length"],
                                          (height // scale, width // scale)):
                done = repaint_latents(self.pipe.vae, self.pipe.scheduler,
                                       self.noise_predictor(cond, guidance, (width, height)),
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
