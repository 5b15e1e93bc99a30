"""``sd-controlnet-seg``: the layout drawn as a segmentation map for an SD 1.5 segmentation ControlNet.

Each box is filled, back to front (z order), with its class's ADE20K colour
(:func:`compose.backbones.ade20k.segmentation_color`: the ADE20K palette where the class or a
synonym is known, else a stable hashed colour); the rest of the canvas takes the colour of the
background when it names an ADE20K class ("grass", "sky", "floor"...), else black. The map
conditions a segmentation ControlNet (such as ``lllyasviel/control_v11p_sd15_seg``) on an SD 1.5
checkpoint; the prompt is the layout's base prompt (every phrase, the background and the style).

Needs ``transformers``, a diffusers-format SD 1.x folder and a ControlNet folder (or repo ids in
the local HF cache).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import repaint_latents, repaint_size
from compose.weights import load_local

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "controlnet": "lllyasviel/control_v11p_sd15_seg", "device": None, "dtype": None,
    "attention_slicing": False, "cpu_offload": None, "guidance": 7.5, "steps": 30,
    "resolution": None, "progress": False, "conditioning_scale": 1.0,
}


def segmentation_map(layout: Layout, size: tuple[int, int]) -> Image.Image:
    """The layout as an RGB segmentation map of ``size`` (width, height): boxes filled back to
    front with their class colours over the background's colour (black when unknown).

    >>> from compose.layouts import Layout, Region
    >>> lay = Layout(canvas=(8, 8), boxes={"p": (0.0, 0.0, 0.5, 0.5)}, background="grass",
    ...              objects={"p": Region(phrase="a man", **{"class": "person"})})
    >>> img = segmentation_map(lay, (8, 8))
    >>> img.getpixel((1, 1)), img.getpixel((6, 6))
    ((150, 5, 61), (4, 250, 7))
    """
    from PIL import Image, ImageDraw

    from compose.backbones.ade20k import ADE20K_PALETTE, SYNONYMS, segmentation_color

    background = (0, 0, 0)
    for word in (layout.background or "").lower().replace(",", " ").split():
        name = SYNONYMS.get(word, word)
        if name in ADE20K_PALETTE:
            background = ADE20K_PALETTE[name]
            break
    width, height = size
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for instance in layout.drawing_order():
        x0, y0, x1, y1 = layout.boxes[instance]
        region = layout.objects.get(instance)
        color = segmentation_color(region.class_name if region else instance.split("#")[0])
        draw.rectangle([round(x0 * width), round(y0 * height),
                        max(round(x0 * width), round(x1 * width) - 1),
                        max(round(y0 * height), round(y1 * height) - 1)], fill=color)
    return image


class SDControlNetSegBackbone(DiffusersBackbone):
    """A segmentation ControlNet conditioned on the layout drawn as an ADE20K map.

    Parameters
    ----------
    model : str
        The SD 1.x base (a diffusers folder, or a repo id in the local HF cache).
    controlnet : str
        The segmentation ControlNet (folder or cached repo id).
    conditioning_scale : float
        ``controlnet_conditioning_scale``: how strongly the map steers the image.
    device, dtype, attention_slicing, cpu_offload, guidance, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``).
    """

    name = "sd-controlnet-seg"
    default_steps = 30
    defaults = DEFAULTS

    def load_pipeline(self) -> Any:
        """The ControlNet first, then the SD pipeline around it."""
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

        net = load_local(ControlNetModel, self.options["controlnet"], name=self.name,
                         torch_dtype=self.runtime.torch_dtype)
        return load_local(StableDiffusionControlNetPipeline, self.options["model"], name=self.name,
                          controlnet=net, torch_dtype=self.runtime.torch_dtype,
                          safety_checker=None, requires_safety_checker=False)

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        guidance = float(self.options["guidance"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, guidance)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        for layout, seed in zip(layouts, seeds):
            # 2. draw the layout as a segmentation map at the render size
            t0 = time.perf_counter()
            prompts = layout_prompts(layout)
            width, height = render_size(layout, self.pipe.vae_scale_factor, self.options["resolution"])
            seg = segmentation_map(layout, (width, height))
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise under the ControlNet, decode
            t0 = time.perf_counter()
            out = self.pipe(prompt=prompts.base, negative_prompt=prompts.negative or None,
                            image=seg, height=height, width=width, num_inference_steps=steps,
                            guidance_scale=guidance,
                            controlnet_conditioning_scale=float(self.options["conditioning_scale"]),
                            generator=generator(seed, self.runtime.device))
            timings["denoise"] += time.perf_counter() - t0
            images.append(out.images[0])
        # 4. report what was done
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name,
                                                   "model": str(self.options["model"]),
                                                   "controlnet": str(self.options["controlnet"]),
                                                   "guidance": guidance,
                                                   "device": self.runtime.device,
                                                   "dtype": self.runtime.dtype})

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, layout: Layout, guidance: float, size: tuple[int, int]):
        """``predict(x_t, t)``: ControlNet residuals from the segmentation map, then the UNet's
        noise prediction with classifier-free guidance."""
        import numpy as np
        import torch

        prompts = layout_prompts(layout)
        cfg = guidance > 1.0
        device = self.pipe._execution_device
        cond, uncond = self.pipe.encode_prompt(prompts.base, device, 1, cfg, prompts.negative or None)
        text = torch.cat([uncond, cond]) if cfg else cond
        seg = np.asarray(segmentation_map(layout, size), dtype=np.float32) / 255.0
        control = torch.from_numpy(seg).permute(2, 0, 1)[None].to(device=device, dtype=text.dtype)
        control = torch.cat([control] * (2 if cfg else 1))
        scale = float(self.options["conditioning_scale"])

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            model_input = torch.cat([x, x]) if cfg else x
            down, mid = self.pipe.controlnet(model_input, t, encoder_hidden_states=text,
                                             controlnet_cond=control, conditioning_scale=scale,
                                             return_dict=False)
            noise = self.pipe.unet(model_input, t, encoder_hidden_states=text,
                                   down_block_additional_residuals=down,
                                   mid_block_additional_residual=mid).sample
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
            # 2. masked re-denoising of the latents under the ControlNet, decode, paste back
            t0 = time.perf_counter()
            size = repaint_size(image, self.pipe.vae_scale_factor)
            done = repaint_latents(self.pipe.vae, self.pipe.scheduler,
                                   self.noise_predictor(layout, guidance, size), image, mask, size,
                                   steps, generator(seed, self.runtime.device),
                                   progress=self.runtime.progress)
            timings["denoise"] += time.perf_counter() - t0
            out.append(done.image)
        # 3. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name, "repaint": True,
                                                   "model": str(self.options["model"]),
                                                   "guidance": guidance})
