"""The embedded world's layout-conditioned diffusion model, built from diffusers classes.

A pixel-space :class:`diffusers.UNet2DModel` denoises 64 x 64 RGB images. The image and the
layout channels are folded 4 x 4 into depth (``pixel_unshuffle``, as U-ViT does at 64 x 64) so the UNet runs at 16 x 16,
sixteen times cheaper on a CPU, and unfolded again at its output. The layout enters as
extra input channels (:func:`layout_condition`): at every pixel, for the front-most box and the
box just behind it (drawing order), the box's occupancy, shape one-hot, color one-hot and the
pixel's position inside that box (-1..1). The second layer lets the model see what shows
around a front shape that does not fill its box. Training drops the whole condition 10% of the
time, so sampling can use classifier-free guidance over the layout. The model predicts the
clean image (``prediction_type="sample"``); the schedulers convert.

Examples
--------
>>> from compose.world.dataset import random_layout
>>> cond = layout_condition(random_layout(3, objects=(2, 2)), 64)
>>> cond.shape, CONDITION_CHANNELS
((43, 64, 64), 43)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from compose.vocabulary import (
    BACKGROUNDS,
    COLOR_NAMES,
    SHAPES,
    background_name,
    phrase_to_object,
    shape_name,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from compose.layouts import Layout

#: Boxes described at each pixel: the front-most and the one behind it.
CONDITION_LAYERS = 2
#: Per layer: occupancy, shape one-hot, color one-hot, x and y inside the box.
LAYER_FEATURES = 1 + len(SHAPES) + len(COLOR_NAMES) + 2
#: Box layers, then the background tone (one-hot, constant over the image).
CONDITION_CHANNELS = CONDITION_LAYERS * LAYER_FEATURES + len(BACKGROUNDS)

#: The architecture of the shipped model (also stored in the weights' metadata).
MODEL_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "patch": 4,
    "block_out_channels": [64, 128, 128],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "attention_head_dim": 32,
    "attention": False,
}

#: The noise schedule used in training; inference uses a fast solver on the same betas. The
#: model predicts the clean image (``"sample"``): images here are nearly a function of the
#: layout, so the clean image is a far easier target for a small network than the noise.
SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "sample",
}


def layout_condition(layout: Layout, size: int = 64) -> np.ndarray:
    """Rasterise a layout into ``(CONDITION_CHANNELS, size, size)`` float32 channels.

    The background tone the layout names (default mint) is a one-hot over the last channels.

    Boxes are painted back to front (``Layout.drawing_order``); each paint pushes the
    previous front layer down to the second layer. A class that is not a shape raises
    ``ValueError`` (backbones check the vocabulary first); an unknown color leaves the color
    one-hot empty, and the model picks one.
    """
    out = np.zeros((CONDITION_LAYERS, LAYER_FEATURES, size, size), dtype=np.float32)
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    for instance in layout.drawing_order():
        x0, y0, x1, y1 = layout.boxes[instance]
        cols = (centres >= x0) & (centres < x1)
        rows = (centres >= y0) & (centres < y1)
        if not cols.any():  # keep slivers narrower than a pixel visible
            cols[min(size - 1, int((x0 + x1) / 2 * size))] = True
        if not rows.any():
            rows[min(size - 1, int((y0 + y1) / 2 * size))] = True
        inside = rows[:, None] & cols[None, :]
        features = np.zeros(LAYER_FEATURES, dtype=np.float32)
        features[0] = 1.0
        shape, color = _shape_and_color(layout, instance)
        features[1 + SHAPES.index(shape)] = 1.0
        if color in COLOR_NAMES:
            features[1 + len(SHAPES) + COLOR_NAMES.index(color)] = 1.0
        feature_map = np.broadcast_to(features[:, None, None], (LAYER_FEATURES, size, size)).copy()
        feature_map[-2] = (centres[None, :] - x0) / max(x1 - x0, 1e-6) * 2 - 1
        feature_map[-1] = (centres[:, None] - y0) / max(y1 - y0, 1e-6) * 2 - 1
        out[1][:, inside] = out[0][:, inside]
        out[0][:, inside] = feature_map[:, inside]
    tone = np.zeros((len(BACKGROUNDS), size, size), dtype=np.float32)
    tone[list(BACKGROUNDS).index(background_name(layout.background))] = 1.0
    return np.concatenate([out.reshape(-1, size, size), tone])


def _shape_and_color(layout: Layout, instance: str) -> tuple[str, str | None]:
    region = layout.objects.get(instance)
    if region is None:
        return "square", None
    shape = shape_name(region.class_name) or phrase_to_object(region.phrase)[0]
    if shape is None:
        raise ValueError(f"{instance}: class {region.class_name!r} is not a shape of the embedded world")
    color = region.attributes.get("color") or phrase_to_object(region.phrase)[1]
    return shape, color


def condition_batch(layouts: list[Layout], size: int = 64) -> torch.Tensor:
    """:func:`layout_condition` for a batch, as one ``(B, C, size, size)`` tensor."""
    import torch

    return torch.from_numpy(np.stack([layout_condition(lay, size) for lay in layouts]))


def build_unet(config: dict[str, Any] | None = None):
    """A fresh :class:`diffusers.UNet2DModel` for ``config`` (default :data:`MODEL_CONFIG`)."""
    from diffusers import UNet2DModel

    cfg = {**MODEL_CONFIG, **(config or {})}
    patch = cfg["patch"]
    levels = len(cfg["block_out_channels"])
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if cfg.get("attention"):
        down[-2], up[1] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=cfg["sample_size"] // patch, in_channels=(3 + CONDITION_CHANNELS) * patch**2,
        out_channels=3 * patch**2,
        block_out_channels=tuple(cfg["block_out_channels"]), layers_per_block=cfg["layers_per_block"],
        down_block_types=tuple(down), up_block_types=tuple(up), norm_num_groups=cfg["norm_num_groups"],
        attention_head_dim=cfg["attention_head_dim"],
    )


def train_scheduler():
    """The DDPM scheduler training adds noise with."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE)


def inference_scheduler():
    """The fast sampler (DPM-Solver++ multistep) on the training schedule."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(**SCHEDULE, algorithm_type="dpmsolver++", solver_order=2)


def denoise(unet, x_t: torch.Tensor, condition: torch.Tensor, t: torch.Tensor, patch: int) -> torch.Tensor:
    """The UNet's noise prediction for images ``x_t`` (B, 3, H, W) under ``condition``."""
    import torch
    from torch.nn.functional import pixel_shuffle, pixel_unshuffle

    inputs = torch.cat([x_t, condition], 1)
    if patch > 1:
        inputs = pixel_unshuffle(inputs, patch)
    out = unet(inputs, t).sample
    return pixel_shuffle(out, patch) if patch > 1 else out


def guided_predictor(unet, condition: torch.Tensor, guidance: float, patch: int):
    """``predict_noise(x_t, t)`` for :func:`compose.backbones.sampling.sample`: the UNet on the image
    plus layout channels, with classifier-free guidance ``guidance`` (1 = none). Its output is
    in the schedule's ``prediction_type`` (the clean image), which the scheduler converts."""
    import torch

    def predict_noise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        batch = x_t.shape[0]
        if guidance == 1.0:
            return denoise(unet, x_t, condition, t.expand(batch), patch)
        both = torch.cat([condition, torch.zeros_like(condition)])
        cond_eps, uncond_eps = denoise(unet, torch.cat([x_t, x_t]), both, t.expand(2 * batch), patch).chunk(2)
        return uncond_eps + guidance * (cond_eps - uncond_eps)

    return predict_noise


def image_to_tensor(images) -> torch.Tensor:
    """PIL images to a ``(B, 3, H, W)`` tensor in -1..1."""
    import torch

    arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1


def tensor_to_images(x: torch.Tensor) -> list:
    """A ``(B, 3, H, W)`` tensor in -1..1 to PIL images."""
    from PIL import Image

    arrays = ((x.clamp(-1, 1) + 1) * 127.5).round().to(dtype=__import__("torch").uint8)
    return [Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), "RGB") for a in arrays]


#: Suffix of the per-output-channel scale stored beside an int8 weight tensor.
SCALE_SUFFIX = ".int8_scale"


def quantize_state(state: dict[str, torch.Tensor], *, least: int = 1024) -> dict[str, torch.Tensor]:
    """Weights for storage: every floating tensor of two or more dimensions and at least
    ``least`` elements as int8, symmetric per output channel (its scale, float16, under the
    name plus :data:`SCALE_SUFFIX`); the rest (biases, norms) as float16. Half the bytes of
    float16, so a weight update adds about 5 MB to the repository, not 9.

    >>> import torch
    >>> w = torch.linspace(-1, 1, 2048).reshape(16, 128)
    >>> stored = quantize_state({"w": w, "b": torch.ones(16)})
    >>> stored["w"].dtype, stored["w" + SCALE_SUFFIX].shape, stored["b"].dtype
    (torch.int8, torch.Size([16]), torch.float16)
    >>> bool((dequantize_state(stored)["w"] - w).abs().max() < 1 / 127)
    True
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            out[name] = tensor
        elif tensor.dim() >= 2 and tensor.numel() >= least:
            flat = tensor.float().reshape(tensor.shape[0], -1)
            scale = (flat.abs().amax(dim=1) / 127).clamp(min=1e-12).half()
            out[name] = torch.round(flat / scale.float()[:, None]).clamp(-127, 127).to(torch.int8).reshape(tensor.shape)
            out[name + SCALE_SUFFIX] = scale
        else:
            out[name] = tensor.half()
    return out


def dequantize_state(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 weights of a stored state (:func:`quantize_state`, or plain float16/32)."""
    out = {}
    for name, tensor in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        if scale is not None:
            shape = (-1,) + (1,) * (tensor.dim() - 1)
            out[name] = tensor.float() * scale.float().reshape(shape)
        else:
            out[name] = tensor.float() if tensor.is_floating_point() else tensor
    return out
