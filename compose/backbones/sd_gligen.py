"""``sd-gligen``: Stable Diffusion 1.x with GLIGEN box conditioning.

GLIGEN checkpoints (such as ``masterful/gligen-1-4-generation-text-box``) add gated
self-attention layers to the UNet (``attention_type="gated"``) and a position net that turns
each box and the pooled text embedding of its phrase into grounding tokens. diffusers' GLIGEN
pipeline is deprecated upstream, so the few parts needed are here: phrase embeddings from the
text encoder's pooled output, up to 30 boxes (the position net's size) passed to the UNet as
``cross_attention_kwargs["gligen"]`` (the unconditional half of classifier-free guidance gets
none), and scheduled sampling — the gated layers are on for the first
``gligen_scheduled_sampling_beta`` of the steps and off afterwards (GLIGEN paper, sec. 3.3).

Needs ``transformers`` and a diffusers-format GLIGEN folder (or a repo id in the local HF cache).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import repaint_latents, repaint_size
from compose.errors import BackboneError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from compose.layouts import Layout

MAX_BOXES = 30
DEFAULTS: dict[str, Any] = {
    "model": "masterful/gligen-1-4-generation-text-box", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "guidance": 7.5, "steps": 50,
    "resolution": None, "progress": False, "gligen_scheduled_sampling_beta": 0.3,
}


class SDGligenBackbone(DiffusersBackbone):
    """GLIGEN text-box grounding for SD 1.x (see the module docstring).

    Parameters
    ----------
    model : str
        A diffusers GLIGEN folder, or a repo id found in the local Hugging Face cache.
    device, dtype, attention_slicing, cpu_offload, guidance, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``).
    gligen_scheduled_sampling_beta : float
        Share of the steps (from the start) with the grounding layers on, in [0, 1].
    """

    name = "sd-gligen"
    default_steps = 50
    pipeline_class = "StableDiffusionPipeline"
    defaults = DEFAULTS

    def check_options(self, options: dict[str, Any]) -> None:
        beta = float(options["gligen_scheduled_sampling_beta"])
        if not 0.0 <= beta <= 1.0:
            raise BackboneError("E406", argument="gligen_scheduled_sampling_beta", value=beta,
                                name=self.name, expected="expected a number in [0, 1]")

    def check_pipeline(self, pipe: Any) -> None:
        if getattr(pipe.unet, "position_net", None) is None:
            raise BackboneError("E406", argument="model", value=str(self.options["model"]), name=self.name,
                                expected="expected a GLIGEN checkpoint (a UNet with "
                                         "attention_type 'gated' and a position net)")

    # ------------------------------------------------------------------ conditioning

    def check_inputs(self, layouts: list[Layout], seeds: list[int], steps: int | None,
                     guidance: float | None, *, images: list | None = None,
                     masks: list | None = None) -> None:
        super().check_inputs(layouts, seeds, steps, guidance, images=images, masks=masks)
        for i, layout in enumerate(layouts):
            if len(layout.boxes) > MAX_BOXES:
                raise BackboneError("E406", argument=f"layouts[{i}].boxes",
                                    value=f"{len(layout.boxes)} boxes", name=self.name,
                                    expected=f"expected at most {MAX_BOXES} (GLIGEN's position net)")

    def grounding(self, layout: Layout, cfg: bool) -> dict[str, torch.Tensor]:
        """GLIGEN inputs for one layout: boxes ``(b, 30, 4)`` in 0..1 (x0, y0, x1, y1), pooled phrase
        embeddings ``(b, 30, dim)`` and masks ``(b, 30)``; ``b`` is 2 with guidance (the
        unconditional half masked out)."""
        import torch

        prompts = layout_prompts(layout)
        device, dtype = self.pipe._execution_device, self.pipe.text_encoder.dtype
        dim = self.pipe.unet.config.cross_attention_dim
        boxes = torch.zeros(MAX_BOXES, 4, device=device, dtype=dtype)
        phrases = torch.zeros(MAX_BOXES, dim, device=device, dtype=dtype)
        masks = torch.zeros(MAX_BOXES, device=device, dtype=dtype)
        n = len(prompts.instances)
        if n:
            tokens = self.pipe.tokenizer([layout.objects[i].phrase if i in layout.objects else i
                                          for i in prompts.instances],
                                         padding=True, truncation=True, return_tensors="pt").to(device)
            with torch.no_grad():
                phrases[:n] = self.pipe.text_encoder(**tokens).pooler_output.to(dtype)
            boxes[:n] = torch.tensor([layout.boxes[i] for i in prompts.instances], dtype=dtype)
            masks[:n] = 1
        batch = 2 if cfg else 1
        out = {"boxes": boxes.expand(batch, -1, -1).clone(),
               "positive_embeddings": phrases.expand(batch, -1, -1).clone(),
               "masks": masks.expand(batch, -1).clone()}
        if cfg:
            out["masks"][0] = 0  # the unconditional half sees no grounding
        return out

    @contextmanager
    def grounding_schedule(self, steps: int) -> Iterator[Any]:
        """The gated layers on for the first ``beta * steps`` steps; yields the step callback that
        switches them off, and leaves them on (their default) afterwards, also on error."""
        on_steps = int(float(self.options["gligen_scheduled_sampling_beta"]) * steps)
        self.set_grounding(on_steps > 0)

        def callback(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            if step + 1 == on_steps:
                self.set_grounding(False)
            return kwargs

        try:
            yield callback
        finally:
            self.set_grounding(True)

    def set_grounding(self, enabled: bool) -> None:
        from diffusers.models.attention import GatedSelfAttentionDense

        for module in self.pipe.unet.modules():
            if isinstance(module, GatedSelfAttentionDense):
                module.enabled = enabled

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
            # 2. the global prompt and the grounding tokens (boxes + pooled phrase embeddings)
            t0 = time.perf_counter()
            prompts = layout_prompts(layout)
            gligen = self.grounding(layout, cfg=guidance > 1.0)
            width, height = render_size(layout, scale, self.options["resolution"])
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with scheduled sampling of the gated layers, decode
            t0 = time.perf_counter()
            with self.grounding_schedule(steps) as switch_off:
                out = self.pipe(prompt=prompts.base, negative_prompt=prompts.negative or None,
                                height=height, width=width, num_inference_steps=steps,
                                guidance_scale=guidance, cross_attention_kwargs={"gligen": gligen},
                                generator=generator(seed, self.runtime.device),
                                callback_on_step_end=switch_off)
            timings["denoise"] += time.perf_counter() - t0
            images.append(out.images[0])
        # 4. report what was done
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance,
                                                   "gligen_scheduled_sampling_beta":
                                                       self.options["gligen_scheduled_sampling_beta"],
                                                   "device": self.runtime.device,
                                                   "dtype": self.runtime.dtype})

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, layout: Layout, guidance: float, steps: int):
        """``predict(x_t, t)``: the grounded UNet's noise prediction with classifier-free guidance;
        the gated layers switch off after ``beta * steps`` calls (scheduled sampling)."""
        import torch

        prompts = layout_prompts(layout)
        cfg = guidance > 1.0
        cond, uncond = self.pipe.encode_prompt(prompts.base, self.pipe._execution_device, 1, cfg,
                                               prompts.negative or None)
        text = torch.cat([uncond, cond]) if cfg else cond
        gligen = self.grounding(layout, cfg=cfg)
        on_steps = int(float(self.options["gligen_scheduled_sampling_beta"]) * steps)
        calls = [0]

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            self.set_grounding(calls[0] < on_steps)
            calls[0] += 1
            model_input = torch.cat([x, x]) if cfg else x
            noise = self.pipe.unet(model_input, t, encoder_hidden_states=text,
                                   cross_attention_kwargs={"gligen": gligen}).sample
            if cfg:
                u, c = noise.chunk(2)
                noise = u + guidance * (c - u)
            return noise

        return predict

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance, images=images, masks=masks)
        check_strength(self.name, strength)
        out, timings = [], {"denoise": 0.0}
        for image, mask, layout, seed in zip(images, masks, layouts, seeds):
            # 2. masked re-denoising of the latents under grounding, decode, paste back
            t0 = time.perf_counter()
            size = repaint_size(image, self.pipe.vae_scale_factor)
            try:
                done = repaint_latents(self.pipe.vae, self.pipe.scheduler,
                                       self.noise_predictor(layout, guidance, steps), image, mask,
                                       size, steps, generator(seed, self.runtime.device),
                                       progress=self.runtime.progress)
            finally:
                self.set_grounding(True)
            timings["denoise"] += time.perf_counter() - t0
            out.append(done.image)
        # 3. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name, "repaint": True,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance})
