"""``embedded``: the project's own layout-conditioned diffusion model, shipped in the package.

A small pixel-space diffusers ``UNet2DModel`` trained by ``compose world train`` on the
procedural renderer's scenes (see ``compose/world/MODEL_CARD.md``). It draws the embedded
world's shapes (:data:`compose.vocabulary.SHAPES`) in the vocabulary's colors at 64 x 64
pixels, on a CPU, in well under a second per image. The weights are safetensors with a sha256
checksum that is checked before they are read.

Pipeline of :meth:`EmbeddedBackbone.render`:

1. check the inputs and that every class is a shape of the world (E406 / E402);
2. draw a color from the seed for every object the layout leaves uncolored
   (:func:`compose.world.draw.with_open_colors_drawn`), then rasterise the layouts into
   condition channels (:func:`compose.world.model.layout_condition`);
3. draw each image's starting noise from its own seed (batching does not change an image);
4. denoise with DPM-Solver++ through :func:`compose.backbones.sampling.sample`, with classifier-free
   guidance over the layout;
5. convert to images.

:meth:`EmbeddedBackbone.repaint` runs the same loop with the image kept outside the mask.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.backbones.base import (
    Backbone,
    RenderResult,
    check_render_inputs,
    check_repaint_inputs,
    check_strength,
    paste_outside,
)
from compose.errors import BackboneError
from compose.vocabulary import SHAPES

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout

#: The shipped weights and their checksum file (``<sha256>`` on one line).
WEIGHTS = Path(__file__).resolve().parent.parent / "world" / "weights" / "embedded.safetensors"
CHECKSUM = WEIGHTS.with_suffix(".sha256")
#: The shipped weights' sha256, pinned here: a checksum file beside a tampered file could be
#: rewritten too. Update this constant whenever the shipped weights are retrained.
SHIPPED_SHA256 = "4365ceadb92f25e8b84995c1995e6c47496540e15263df90b3eb5cd0f0731e40"

DEFAULT_STEPS = 12
DEFAULT_GUIDANCE = 3.0


def verified_weights(path: str | Path = WEIGHTS, checksum: str | Path | None = None) -> Path:
    """``path`` after checking it exists and matches its sha256 (``checksum`` file, default
    ``<path without suffix>.sha256``); E403 when missing, E404 on a mismatch."""
    from compose.world.train import file_sha256

    path = Path(path)
    checksum = Path(checksum) if checksum else path.with_suffix(".sha256")
    if not path.is_file():
        raise BackboneError("E403", name="embedded", looked=str(path))
    if not checksum.is_file():
        raise BackboneError("E403", name="embedded", looked=f"{checksum} (the checksum of {path.name})")
    expected = checksum.read_text(encoding="utf-8").split()[0].strip().lower()
    if path.resolve() == WEIGHTS:
        expected = SHIPPED_SHA256
    got = file_sha256(path)
    if got != expected:
        raise BackboneError("E404", path=str(path), expected=expected, got=got)
    return path


class EmbeddedBackbone(Backbone):
    """The embedded world's diffusion model (see the module docstring).

    Parameters
    ----------
    weights : str or Path, optional
        A safetensors file written by ``compose world train --export`` with its ``.sha256``
        beside it; defaults to the shipped weights.
    device : str, optional
        ``"cpu"`` (default) or ``"cuda"``.
    steps : int, optional
        Default number of sampling steps (DPM-Solver++), :data:`DEFAULT_STEPS` unless given.
    guidance : float, optional
        Classifier-free guidance scale over the layout (1 = none), :data:`DEFAULT_GUIDANCE`.
    progress : bool
        Show a progress bar while sampling.
    threads : int, optional
        CPU threads torch uses while this backbone samples (restored afterwards); default 1.
        The model is small: a second thread gains little on an idle machine, and on a busy one
        OpenMP's spinning threads cost many times over (measured in ``benchmarks/bench_world.py``).
        ``None`` leaves torch's setting alone.
    """

    name = "embedded"
    vocabulary = frozenset(SHAPES)
    default_detector = "world"
    default_steps = DEFAULT_STEPS

    def __init__(self, weights: str | Path | None = None, *, device: str | None = None,
                 steps: int | None = None, guidance: float | None = None, progress: bool = False,
                 threads: int | None = 1, **_ignored: Any) -> None:
        self.weights = Path(weights) if weights else WEIGHTS
        self.device = device or "cpu"
        self.steps = steps or DEFAULT_STEPS
        self.guidance = DEFAULT_GUIDANCE if guidance is None else float(guidance)
        self.progress = progress
        self.threads = threads
        self._unet = None
        self.config: dict[str, Any] = {}
        self.metadata: dict[str, str] = {}

    # ---- loading --------------------------------------------------------------------------
    def load(self):
        """Verify and load the weights (once); returns the UNet."""
        if self._unet is not None:
            return self._unet
        from safetensors import safe_open
        from safetensors.torch import load_file

        from compose.world.model import MODEL_CONFIG, build_unet, dequantize_state

        path = verified_weights(self.weights)
        from compose.world.train import file_sha256

        self.weights_sha256 = file_sha256(path)
        with safe_open(str(path), framework="pt") as fh:
            self.metadata = dict(fh.metadata() or {})
        self.config = {**MODEL_CONFIG, **json.loads(self.metadata.get("model_config", "{}"))}
        unet = build_unet(self.config)
        state = dequantize_state(load_file(str(path)))
        unet.load_state_dict(state)
        self._unet = unet.to(self.device).eval().requires_grad_(False)
        return self._unet

    # ---- rendering ------------------------------------------------------------------------
    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        from compose.world.model import tensor_to_images

        # 1. inputs and vocabulary
        check_render_inputs(self.name, layouts, seeds, steps, guidance)
        for layout in layouts:
            self.check_layout(layout)
        steps = steps or self.steps
        guidance = self.guidance if guidance is None else float(guidance)
        start = time.perf_counter()
        unet = self.load()
        loaded = time.perf_counter()
        # 2-4. condition, per-seed noise, guided sampling
        x = self._sample(layouts, seeds, steps, guidance)
        # 5. images
        images = tensor_to_images(x)
        done = time.perf_counter()
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings={"load_s": loaded - start, "sample_s": done - loaded},
                            info={"guidance": guidance, "size": self.config["sample_size"],
                                  "weights": str(self.weights), "weights_sha256": self.weights_sha256,
                                  "device": self.device,
                                  "parameters": sum(p.numel() for p in unet.parameters())})

    def _sample(self, layouts, seeds, steps, guidance, known=None, mask=None):
        import torch

        from compose.backbones.sampling import sample
        from compose.world.draw import with_open_colors_drawn
        from compose.world.model import condition_batch, guided_predictor, inference_scheduler

        unet = self.load()
        size = self.config["sample_size"]
        layouts = [with_open_colors_drawn(lay, seed) for lay, seed in zip(layouts, seeds)]
        condition = condition_batch(layouts, size).to(self.device)
        noise = torch.cat([torch.randn((1, 3, size, size), generator=torch.Generator().manual_seed(int(s)))
                           for s in seeds]).to(self.device)
        generator = torch.Generator().manual_seed(int(seeds[0]))
        predict = guided_predictor(unet, condition, guidance, self.config["patch"])
        before = torch.get_num_threads()
        if self.threads and self.device == "cpu":
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return sample(predict, inference_scheduler(), noise, steps, known=known, mask=mask,
                              generator=generator, progress=self.progress)
        finally:
            torch.set_num_threads(before)

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        import numpy as np
        import torch
        from PIL import Image as PILImage

        from compose.world.model import image_to_tensor, tensor_to_images

        check_repaint_inputs(self.name, images, masks, layouts, seeds, steps, guidance)
        check_strength(self.name, strength)
        for layout in layouts:
            self.check_layout(layout)
        steps = steps or self.steps
        guidance = self.guidance if guidance is None else float(guidance)
        start = time.perf_counter()
        self.load()
        size = self.config["sample_size"]
        known = image_to_tensor([im.convert("RGB").resize((size, size), PILImage.BICUBIC) for im in images])
        # a model pixel is regenerated when any of the mask's pixels over it asks for it
        small = [np.asarray(m.convert("L").resize((size, size), PILImage.BOX), dtype=np.float32) > 0
                 for m in masks]
        mask = torch.from_numpy(np.stack(small)[:, None].astype(np.float32)).to(self.device)
        x = self._sample(layouts, seeds, steps, guidance, known=known.to(self.device), mask=mask)
        out = [paste_outside(im.convert("RGB"), new, m) for im, new, m in zip(images, tensor_to_images(x), masks)]
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings={"repaint_s": time.perf_counter() - start}, info={"guidance": guidance})
