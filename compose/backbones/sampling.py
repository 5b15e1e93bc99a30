"""The one sampling loop every diffusion backbone uses, with masked (repaint) sampling built in,
and the latent-space pieces around it.

:func:`sample` runs a diffusers scheduler from pure noise to a clean sample. With ``known`` and
``mask`` it regenerates only the masked region: after every step the region to keep is replaced
by ``known`` noised to the next step's level (``scheduler.add_noise``), as in RePaint / blended
diffusion, and the result equals ``known`` exactly wherever ``mask == 0``. It works the same in
pixel space and in latent space; guidance lives inside ``predict_noise``.
:class:`FlowMatchSampling` presents a flow-matching scheduler (SD3, FLUX, Qwen-Image) to it;
:func:`repaint_latents` is the whole masked re-denoising of an image through a VAE.

Examples
--------
>>> import torch
>>> from diffusers import DDIMScheduler
>>> scheduler = DDIMScheduler(num_train_timesteps=100)
>>> known = torch.zeros(1, 1, 4, 4)
>>> mask = torch.zeros(1, 1, 4, 4); mask[..., :2, :] = 1
>>> out = sample(lambda x, t: torch.zeros_like(x), scheduler, torch.ones(1, 1, 4, 4), 5,
...              known=known, mask=mask)
>>> bool((out[..., 2:, :] == 0).all()), bool((out[..., :2, :] != 0).all())
(True, True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compose.backbones.base import paste_outside

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image


def sample(predict_noise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], scheduler, x_T: torch.Tensor,
           steps: int, *, known: torch.Tensor | None = None, mask: torch.Tensor | None = None,
           generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """Denoise ``x_T`` in ``steps`` scheduler steps; optionally keep ``known`` outside ``mask``.

    Parameters
    ----------
    predict_noise : callable
        ``predict_noise(x_t, t) -> output`` of the same shape as ``x_t``: the model's prediction
        in the scheduler's ``prediction_type`` (the noise for ``"epsilon"`` schedulers), with any
        classifier-free guidance already applied. ``x_t`` is already scaled by
        ``scheduler.scale_model_input``.
    scheduler : diffusers scheduler
        Any scheduler with ``set_timesteps``, ``step``, ``add_noise`` and ``scale_model_input``
        (DDPM, DDIM, DPMSolverMultistep, Euler...). Its state is reset here.
    x_T : torch.Tensor
        Unit-variance starting noise (scaled by ``scheduler.init_noise_sigma`` here).
    steps : int
        Number of inference steps.
    known : torch.Tensor, optional
        The clean sample (pixels or latents, shape of ``x_T``) whose region with ``mask == 0``
        is kept.
    mask : torch.Tensor, optional
        Broadcastable to ``x_T``; 1 where the sample is regenerated, 0 where ``known`` is kept
        (values in between blend).
    generator : torch.Generator, optional
        Seeds the noise added to ``known`` and any noise the scheduler draws.
    progress : bool
        Show a progress bar.

    Returns
    -------
    torch.Tensor
        The clean sample; equal to ``known`` exactly where ``mask == 0``.
    """
    import torch

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if (known is None) != (mask is None):
        raise ValueError("known and mask go together: give both or neither")
    if known is not None and known.shape != x_T.shape:
        raise ValueError(f"known has shape {tuple(known.shape)}, expected the shape of x_T {tuple(x_T.shape)}")
    scheduler.set_timesteps(steps, device=x_T.device)
    timesteps = scheduler.timesteps
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    x = x_T * scheduler.init_noise_sigma
    if known is not None:
        mask = mask.to(device=x.device, dtype=x.dtype)
        x = mask * x + (1 - mask) * scheduler.add_noise(known, _noise(known, generator), timesteps[:1])
    iterator = timesteps
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(timesteps, desc="sampling", leave=False)
    for i, t in enumerate(iterator):
        model_input = scheduler.scale_model_input(x, t)
        output = predict_noise(model_input, t)
        x = scheduler.step(output, t, x, **step_kwargs).prev_sample
        if known is not None and i + 1 < len(timesteps):
            noisy_known = scheduler.add_noise(known, _noise(known, generator), timesteps[i + 1:i + 2])
            x = mask * x + (1 - mask) * noisy_known
    if known is not None:
        x = torch.where(mask == 0, known, mask * x + (1 - mask) * known)
    return x


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    import torch

    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def mask_to_latent(mask: Image.Image, height: int, width: int) -> torch.Tensor:
    """A repaint mask (``L``, 255 = repaint) at latent size ``(1, 1, height, width)``, 1 = repaint;
    a latent cell is repainted when any pixel it covers is (max pooling), so nothing that must
    change is left out."""
    import numpy as np
    import torch

    m = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)[None, None]
    m = (m > 0.5).float()
    return torch.nn.functional.adaptive_max_pool2d(m, (height, width))


def encode_latents(vae: Any, image: Image.Image, size: tuple[int, int],
                   gen: torch.Generator | None) -> torch.Tensor:
    """``image`` resized to ``size`` (width, height) -> scaled VAE latents ``(1, c, h, w)``
    (``(z - shift) * scale`` as diffusers' pipelines do)."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    rgb = image.convert("RGB")
    if rgb.size != tuple(size):
        rgb = rgb.resize(tuple(size), PILImage.BICUBIC)
    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    pixels = pixels.to(device=vae.device, dtype=vae.dtype)
    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.sample(generator=gen)
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (latents - shift) * vae.config.scaling_factor


def decode_latents(vae: Any, latents: torch.Tensor) -> Image.Image:
    """Scaled VAE latents ``(1, c, h, w)`` -> an RGB image."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    shift = getattr(vae.config, "shift_factor", None) or 0.0
    with torch.no_grad():
        pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor + shift).sample
    array = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return PILImage.fromarray(np.ascontiguousarray(array))


def repaint_size(image: Image.Image, multiple: int) -> tuple[int, int]:
    """The image's size rounded to a multiple the model can denoise."""
    w, h = image.size
    return (max(multiple, round(w / multiple) * multiple), max(multiple, round(h / multiple) * multiple))


class FlowMatchSampling:
    """A flow-matching scheduler (SD3, FLUX) seen through the interface
    :func:`sample` expects of DDPM-style ones: ``add_noise`` is the flow's
    interpolation ``scale_noise``, model inputs need no scaling and the start noise has unit scale.
    ``set_timesteps`` passes FLUX's sigmas and resolution-dependent shift when asked."""

    init_noise_sigma = 1.0

    def __init__(self, scheduler: Any, *, image_tokens: int | None = None,
                 flux_sigmas: bool = False, mu: Any = None) -> None:
        self.scheduler = scheduler
        self.image_tokens = image_tokens
        self.flux_sigmas = flux_sigmas
        self.mu = mu  # ``mu(steps)`` where a pipeline computes its own shift (FLUX.2)

    def set_timesteps(self, steps: int, device: Any = None) -> None:
        import numpy as np

        kwargs: dict[str, Any] = {}
        if self.flux_sigmas:
            kwargs["sigmas"] = np.linspace(1.0, 1 / steps, steps)
        config = self.scheduler.config
        if getattr(config, "use_dynamic_shifting", False) and self.mu is not None:
            kwargs["mu"] = self.mu(steps)
        elif getattr(config, "use_dynamic_shifting", False):
            base, top = config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096)
            lo, hi = config.get("base_shift", 0.5), config.get("max_shift", 1.15)
            tokens = self.image_tokens or base
            kwargs["mu"] = tokens * (hi - lo) / (top - base) + lo - (hi - lo) / (top - base) * base
        self.scheduler.set_timesteps(steps, device=device, **kwargs)

    @property
    def timesteps(self) -> torch.Tensor:
        return self.scheduler.timesteps

    def scale_model_input(self, sample: torch.Tensor, timestep: Any) -> torch.Tensor:
        return sample

    def add_noise(self, sample: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.scheduler.scale_noise(sample, timesteps, noise)

    def step(self, output: torch.Tensor, timestep: Any, sample: torch.Tensor, **kwargs: Any) -> Any:
        return self.scheduler.step(output, timestep, sample, **kwargs)


@dataclass
class Repainted:
    """One repaint: the image (exactly the original outside the mask) and the latents involved."""

    image: Image.Image
    latents: torch.Tensor
    known: torch.Tensor
    mask: torch.Tensor


def repaint_latents(vae: Any, scheduler: Any, predict: Any, image: Image.Image, mask: Image.Image,
                    size: tuple[int, int], steps: int, gen: torch.Generator, *,
                    pack: Any = None, unpack: Any = None, progress: bool = False) -> Repainted:
    """Masked re-denoising in latent space with :func:`sample`: the image's
    latents are kept (noised to each step's level) outside the latent mask and regenerated inside;
    the decoded image is pasted back so pixels outside ``mask`` are exactly the original's.
    ``pack``/``unpack`` map latents to the model's token layout and back (FLUX)."""
    import torch

    known = encode_latents(vae, image, size, gen)
    latent_mask = mask_to_latent(mask, *known.shape[-2:]).to(device=known.device, dtype=known.dtype)
    full_mask = latent_mask.expand_as(known).contiguous()
    pack = pack or (lambda t: t)
    unpack = unpack or (lambda t: t)
    x_T = torch.randn(known.shape, generator=gen, device=gen.device).to(known)
    with torch.no_grad():
        latents = unpack(sample(predict, scheduler, pack(x_T), steps, known=pack(known),
                                mask=pack(full_mask), generator=gen, progress=progress))
    decoded = decode_latents(vae, latents)
    return Repainted(paste_outside(image, decoded, mask), latents, known, latent_mask)
