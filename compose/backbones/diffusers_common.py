"""The parts every diffusers backbone shares: options, local-only loading, seeds, masks, prompts.

Nothing here downloads. A model reference is a local folder or a Hugging Face repo id resolved
from the local cache only (``local_files_only=True``); a missing one raises E403 naming the
places looked in. Backbone options can also come from a config file (``backbones.toml`` or
``.json``) mapping a backbone name to its options::

    [sd-regional]
    model = "/models/stable-diffusion-v1-5"
    device = "cuda"
    dtype = "fp16"

Options given in code (``get_backbone(name, model=...)``) win over the file's.

Examples
--------
>>> parse_dtype_name("half"), parse_dtype_name("bf16"), parse_dtype_name(None, device="cpu")
('fp16', 'bf16', 'fp32')
>>> from compose.layouts import Layout, Region
>>> lay = Layout(canvas=(64, 64), boxes={"a": (0.0, 0.0, 0.5, 1.0), "b": (0.25, 0.0, 1.0, 1.0)},
...              objects={"a": Region(phrase="a cat", **{"class": "cat"}, z=1),
...                       "b": Region(phrase="a dog", **{"class": "dog"})})
>>> prompts = layout_prompts(lay)
>>> prompts.base, prompts.regions
('a dog, a cat', ['a dog', 'a cat'])
>>> masks = exclusive_box_masks(lay, prompts.instances, 4, 4)   # 'a' (z=1) is in front of 'b'
>>> masks[1].astype(int).tolist()[0], masks[0].astype(int).tolist()[0]
([1, 1, 0, 0], [0, 0, 1, 1])
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.errors import BackboneError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from PIL import Image

    from compose.layouts import Layout

DTYPES = {"fp16": "float16", "float16": "fp16", "half": "fp16", "bf16": "bfloat16",
          "bfloat16": "bf16", "fp32": "float32", "float32": "fp32", "float": "fp32"}
DEVICES = ("auto", "cuda", "mps", "cpu")
CONFIG_ENV = "COMPOSE_BACKBONES_CONFIG"


# --------------------------------------------------------------------------- options and loading

def parse_dtype_name(dtype: str | None, *, device: str = "cpu", name: str = "backbone") -> str:
    """Normalise a dtype option to ``fp16``, ``bf16`` or ``fp32`` (``None``: fp16 on cuda, else
    fp32)."""
    if dtype is None or dtype == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    key = str(dtype).lower().replace("torch.", "")
    if key not in DTYPES:
        raise BackboneError("E406", argument="dtype", value=dtype, name=name,
                            expected="expected fp16, bf16 or fp32")
    return key if key in ("fp16", "bf16", "fp32") else DTYPES[key]


def torch_dtype(dtype_name: str) -> torch.dtype:
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]


def parse_device(device: str | None, *, name: str = "backbone") -> str:
    """``cuda``, ``cuda:N``, ``mps`` or ``cpu``; ``None``/``auto`` picks the best one present."""
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    base = str(device).split(":")[0]
    if base not in DEVICES:
        raise BackboneError("E406", argument="device", value=device, name=name,
                            expected="expected cuda, cuda:N, mps, cpu or auto")
    if base == "cuda" and not torch.cuda.is_available():
        raise BackboneError("E406", argument="device", value=device, name=name,
                            expected="CUDA is not available on this machine; use cpu or mps")
    return str(device)


def require_package(package: str, name: str) -> None:
    """Raise E405 when ``package`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(package) is None:
        extra = f"'compose-scenes[{package}]'" if package == "transformers" else package
        raise BackboneError("E405", name=name, package=package,
                            install=f"install it with `pip install {extra}`")


def hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub comes with diffusers
        return os.path.expanduser("~/.cache/huggingface/hub")


def load_local(loader: Any, model: str | os.PathLike, *, name: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(model, local_files_only=True, **kwargs)``, raising E403 (saying
    where it looked) when the weights are not on disk."""
    model = str(model)
    path = Path(model).expanduser()
    looked = f"{path} (no such folder)" if not path.exists() else str(path)
    if not path.exists() and not model.startswith((".", "/", "~")):
        looked = f"{looked} and the Hugging Face cache {hf_cache_dir()} (repo id '{model}')"
    try:
        with warnings.catch_warnings():  # diffusers >= 0.36 renames torch_dtype; older ones need it
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            return loader.from_pretrained(str(path) if path.exists() else model,
                                          local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:  # missing files, or a repo id not in the cache
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BackboneError("E403", name=name, looked=f"{looked}: {reason}") from exc


def config_options(name: str, config: str | os.PathLike | None = None) -> dict[str, Any]:
    """The options for backbone ``name`` from a config file: ``config``, else ``$COMPOSE_BACKBONES_CONFIG``,
    else ``./backbones.toml``, else ``~/.config/compose/backbones.toml`` (first one that exists)."""
    candidates = [config] if config else [os.environ.get(CONFIG_ENV), "backbones.toml",
                                          "~/.config/compose/backbones.toml"]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if not path.is_file():
            if config:
                raise BackboneError("E406", argument="config", value=str(config), name=name,
                                    expected="expected an existing .toml or .json file")
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                data = json.loads(text)
            else:
                import tomllib

                data = tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise BackboneError("E406", argument="config", value=str(path), name=name,
                                expected=f"expected a TOML or JSON table per backbone ({exc})") from exc
        section = data.get(name, {})
        if not isinstance(section, dict):
            raise BackboneError("E406", argument="config", value=str(path), name=name,
                                expected=f"expected [{name}] to be a table of options")
        return dict(section)
    return {}


@dataclass
class Runtime:
    """Where and how a backbone runs: device, dtype and memory savers."""

    device: str
    dtype: str
    attention_slicing: bool = False
    cpu_offload: str | None = None  # None, "model" or "sequential"
    progress: bool = False

    @classmethod
    def from_options(cls, name: str, device: str | None, dtype: str | None,
                     attention_slicing: bool, cpu_offload: bool | str | None,
                     progress: bool) -> Runtime:
        dev = parse_device(device, name=name)
        if cpu_offload is True:
            cpu_offload = "model"
        if cpu_offload not in (None, False, "model", "sequential"):
            raise BackboneError("E406", argument="cpu_offload", value=cpu_offload, name=name,
                                expected="expected model, sequential or none")
        if cpu_offload:
            require_package("accelerate", name)  # diffusers' offloading is built on it
        return cls(device=dev, dtype=parse_dtype_name(dtype, device=dev, name=name),
                   attention_slicing=bool(attention_slicing), cpu_offload=cpu_offload or None,
                   progress=bool(progress))

    def place(self, pipe: Any) -> Any:
        """Move ``pipe`` to the device (or set up CPU offload) and apply the memory savers."""
        if self.cpu_offload == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.cpu_offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        if self.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
        pipe.set_progress_bar_config(disable=not self.progress)
        return pipe

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch_dtype(self.dtype)


def generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed``; on CPU for mps (mps generators are not portable)."""
    import torch

    dev = "cpu" if device.startswith("mps") else device
    return torch.Generator(device=dev).manual_seed(int(seed))


# --------------------------------------------------------------------------- checks

def check_render_inputs(name: str, layouts: list, seeds: list[int], steps: int | None,
                        guidance: float | None) -> None:
    """Concise E406 errors naming the argument."""
    from compose.layouts import Layout

    if not isinstance(layouts, (list, tuple)) or not layouts:
        raise BackboneError("E406", argument="layouts", value=layouts, name=name,
                            expected="expected a non-empty list of Layout")
    for i, lay in enumerate(layouts):
        if not isinstance(lay, Layout):
            raise BackboneError("E406", argument=f"layouts[{i}]", value=type(lay).__name__,
                                name=name, expected="expected a Layout")
        for instance, (x0, y0, x1, y1) in lay.boxes.items():
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise BackboneError("E406", argument=f"layouts[{i}].boxes[{instance!r}]",
                                    value=(x0, y0, x1, y1), name=name,
                                    expected="expected 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    if len(seeds) != len(layouts):
        raise BackboneError("E406", argument="seeds", value=list(seeds), name=name,
                            expected=f"expected one seed per layout ({len(layouts)})")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise BackboneError("E406", argument="steps", value=steps, name=name,
                            expected="expected an integer >= 1")
    if guidance is not None and not (isinstance(guidance, (int, float)) and guidance >= 0):
        raise BackboneError("E406", argument="guidance", value=guidance, name=name,
                            expected="expected a number >= 0")


def check_repaint_inputs(name: str, images: list, masks: list, layouts: list,
                         seeds: list[int], steps: int | None, guidance: float | None) -> None:
    check_render_inputs(name, layouts, seeds, steps, guidance)
    for argument, values in (("images", images), ("masks", masks)):
        if len(values) != len(layouts):
            raise BackboneError("E406", argument=argument, value=f"{len(values)} items", name=name,
                                expected=f"expected one per layout ({len(layouts)})")
    for i, (image, mask) in enumerate(zip(images, masks)):
        if image.size != mask.size:
            raise BackboneError("E406", argument=f"masks[{i}]", value=mask.size, name=name,
                                expected=f"expected the size of images[{i}], {image.size}")


def render_size(layout: Layout, multiple: int, resolution: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of the image to render for ``layout``: its canvas (scaled so its longest
    side is ``resolution`` when given), rounded to a multiple of ``multiple``.

    >>> from compose.layouts import Layout
    >>> render_size(Layout(canvas=(500, 300), boxes={}), 16), render_size(Layout(canvas=(64, 32), boxes={}), 8, 512)
    ((496, 304), (512, 256))
    """
    w, h = layout.canvas
    if resolution:
        scale = resolution / max(w, h)
        w, h = w * scale, h * scale
    return (max(multiple, int(round(w / multiple)) * multiple),
            max(multiple, int(round(h / multiple)) * multiple))


# --------------------------------------------------------------------------- prompts and masks

@dataclass
class LayoutPrompts:
    """The prompts a layout gives: one for the whole image, one per region (back to front)."""

    base: str
    negative: str
    instances: list[str]
    regions: list[str]
    region_negatives: list[str]


def layout_prompts(layout: Layout) -> LayoutPrompts:
    """The base prompt (every phrase, the background and the style) and one prompt per region,
    back to front; a region's negative prompt is its ``attributes["negative"]``, else the
    layout's negative prompt."""
    instances = layout.drawing_order()
    phrases, negatives = [], []
    for instance in instances:
        region = layout.objects.get(instance)
        phrases.append(region.phrase if region else instance.split("#")[0])
        own = region.attributes.get("negative") if region else None
        negatives.append(str(own) if own else (layout.negative or ""))
    style = f", {layout.style}" if layout.style else ""
    base_parts = list(phrases) + [p for p in (layout.background, layout.style) if p]
    return LayoutPrompts(base=", ".join(base_parts), negative=layout.negative or "",
                         instances=instances, regions=[p + style for p in phrases],
                         region_negatives=negatives)


def exclusive_box_masks(layout: Layout, instances: list[str], height: int,
                        width: int) -> np.ndarray:
    """Boolean masks ``(len(instances), height, width)`` on a grid, a cell belonging to the box
    that contains its centre; where boxes overlap the later instance (in front) owns the cell.
    A box too small to contain any cell centre still owns the cell under its own centre."""
    import numpy as np

    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    masks = np.zeros((len(instances), height, width), dtype=bool)
    owner = np.full((height, width), -1)
    for k, instance in enumerate(instances):
        x0, y0, x1, y1 = layout.boxes[instance]
        inside = ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
        if not inside.any():
            cy = min(height - 1, int((y0 + y1) / 2 * height))
            cx = min(width - 1, int((x0 + x1) / 2 * width))
            inside[cy, cx] = True
        owner[inside] = k
    for k in range(len(instances)):
        masks[k] = owner == k
    return masks


def grid_for_tokens(tokens: int, height: int, width: int) -> tuple[int, int]:
    """The ``(h, w)`` grid of ``tokens`` image tokens for a ``height x width`` latent, assuming
    stride-2 downsampling with ceil (as in UNets): the level where ``h * w == tokens``."""
    h, w = height, width
    for _ in range(8):
        if h * w == tokens:
            return h, w
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    raise ValueError(f"{tokens} tokens do not match a {height}x{width} latent at any level")


# --------------------------------------------------------------------------- images and masks

def mask_to_latent(mask: Image.Image, height: int, width: int) -> torch.Tensor:
    """A repaint mask (``L``, 255 = repaint) at latent size ``(1, 1, height, width)``, 1 = repaint;
    a latent cell is repainted when any pixel it covers is (max pooling), so nothing that must
    change is left out."""
    import numpy as np
    import torch

    m = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)[None, None]
    m = (m > 0.5).float()
    return torch.nn.functional.adaptive_max_pool2d(m, (height, width))


def paste_outside(original: Image.Image, repainted: Image.Image, mask: Image.Image) -> Image.Image:
    """``repainted`` inside the mask (255), ``original`` exactly everywhere else."""
    from PIL import Image

    repainted = repainted.convert(original.mode).resize(original.size, Image.BICUBIC)
    binary = mask.convert("L").point(lambda v: 255 if v > 127 else 0)
    return Image.composite(repainted, original, binary)


def seed_list(seeds: list[int]) -> list[int]:
    return [int(s) for s in seeds]


def with_config(name: str, config: str | os.PathLike | None, given: dict[str, Any],
                defaults: dict[str, Any]) -> dict[str, Any]:
    """Options for backbone ``name``: ``given`` (those not ``None``) over the config file's over
    ``defaults``; an option the backbone does not know raises E406."""
    from_file = config_options(name, config)
    unknown = sorted(set(from_file) - set(defaults))
    if unknown:
        raise BackboneError("E406", argument=unknown[0], value=from_file[unknown[0]], name=name,
                            expected=f"expected one of {', '.join(sorted(defaults))}")
    merged = dict(defaults)
    merged.update(from_file)
    merged.update({k: v for k, v in given.items() if v is not None})
    return merged


# --------------------------------------------------------------------------- latent repaint

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
    :func:`compose.diffusion.sample` expects of DDPM-style ones: ``add_noise`` is the flow's
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
    """Masked re-denoising in latent space with :func:`compose.diffusion.sample`: the image's
    latents are kept (noised to each step's level) outside the latent mask and regenerated inside;
    the decoded image is pasted back so pixels outside ``mask`` are exactly the original's.
    ``pack``/``unpack`` map latents to the model's token layout and back (FLUX)."""
    import torch

    from compose.diffusion import sample

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


def check_strength(name: str, strength: float) -> None:
    if strength != 1.0:
        raise BackboneError("E406", argument="strength", value=strength, name=name,
                            expected="expected 1.0 (masked regions are regenerated from pure noise)")
