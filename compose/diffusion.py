"""The one sampling loop every diffusion backbone uses, with masked (repaint) sampling built in.

:func:`sample` runs a diffusers scheduler from pure noise to a clean sample. With ``known`` and
``mask`` it regenerates only the masked region: after every step the region to keep is replaced
by ``known`` noised to the next step's level (``scheduler.add_noise``), as in RePaint / blended
diffusion, and the result equals ``known`` exactly wherever ``mask == 0``. It works the same in
pixel space and in latent space; guidance lives inside ``predict_noise``.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


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
