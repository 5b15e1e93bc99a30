"""Training the embedded world's diffusion model, reproducibly, with checkpoints and resume.

Every batch is drawn fresh from the procedural renderer: batch ``k`` of a run seeded ``s``
depends only on ``(s, k)``, so a run killed and resumed from its last checkpoint continues
exactly as if it had never stopped. Checkpoints are safetensors only (model, EMA and the
optimizer's tensors) plus a JSON file of scalars; nothing is pickled.

Layout of ``--out``::

    checkpoint/model.safetensors      raw weights
    checkpoint/ema.safetensors        exponential moving average of the weights (what ships)
    checkpoint/optimizer.safetensors  AdamW moments and step counts
    checkpoint/state.json             step, config, seed, wall time, optimizer hyper-parameters
    loss.jsonl                        one record per logged step
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from compose.world.model import MODEL_CONFIG

#: Name of the checkpoint folder inside a training output directory.
CHECKPOINT = "checkpoint"


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (all recorded in every checkpoint)."""

    steps: int = 8000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 200
    #: ``constant`` after the warm-up, or ``cosine``: from the peak down to zero at ``steps``
    #: (counted from where this run's warm-up starts, so a run resumed with ``--init`` decays
    #: over its own steps)
    schedule: str = "constant"
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    condition_dropout: float = 0.1
    color_dropout: float = 0.03
    min_snr_gamma: float = 5.0
    objects: tuple[int, int] = (1, 8)
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 10
    threads: int = 2
    model: dict[str, Any] = field(default_factory=lambda: dict(MODEL_CONFIG))


def training_batch(config: TrainConfig, step: int):
    """Images (B, 3, H, W in -1..1), layout conditions and the layouts of batch ``step``."""
    import torch

    from compose.world.dataset import random_layout
    from compose.world.draw import render_layout
    from compose.world.model import condition_batch, image_to_tensor

    size = config.model["sample_size"]
    layouts = [random_layout((config.seed, step, i), objects=tuple(config.objects), canvas=(size, size))
               for i in range(config.batch_size)]
    images = image_to_tensor([render_layout(lay, with_masks=False).image for lay in layouts])
    generator = torch.Generator().manual_seed(hash((config.seed, step, "drop")) & 0x7FFFFFFF)
    uncolored = []
    for lay in layouts:  # a few boxes lose their color, so the model learns to pick one
        drop = torch.rand(len(lay.objects), generator=generator) < config.color_dropout
        uncolored.append(lay.model_copy(update={"objects": {
            k: (r.model_copy(update={"attributes": {}}) if d else r) for (k, r), d in zip(lay.objects.items(), drop)}}))
    conditions = condition_batch(uncolored, size)
    return images, conditions, layouts


def learning_rate(config: TrainConfig, step: int, warm_from: int = 0) -> float:
    """The learning rate of ``step``: linear warm-up over ``config.warmup`` steps from
    ``warm_from``, then constant or a cosine down to zero at ``config.steps``.

    >>> cfg = TrainConfig(steps=1000, lr=1e-3, warmup=100, schedule="cosine")
    >>> [round(learning_rate(cfg, s) * 1e4, 1) for s in (0, 99, 550, 999)]
    [0.1, 10.0, 5.0, 0.0]
    >>> learning_rate(TrainConfig(steps=1000, lr=1e-3, warmup=100), 999)
    0.001
    """
    import math

    lr = config.lr * min(1.0, (step + 1 - warm_from) / max(1, config.warmup))
    if config.schedule == "cosine":
        start = warm_from + config.warmup
        progress = min(1.0, max(0.0, (step - start) / max(1, config.steps - 1 - start)))
        lr *= 0.5 * (1 + math.cos(math.pi * progress))
    elif config.schedule != "constant":
        raise ValueError(f"unknown schedule {config.schedule!r}")
    return lr


class Trainer:
    """One training run: model, EMA, optimizer and step, saved to and resumed from ``out``."""

    def __init__(self, config: TrainConfig, out: str | Path, device: str | None = None):
        import torch

        from compose.world.model import build_unet, train_scheduler

        self.config = config
        self.out = Path(out)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(config.seed)
        self.unet = build_unet(config.model).to(self.device)
        self.ema = {k: v.detach().clone() for k, v in self.unet.state_dict().items()}
        self.optimizer = torch.optim.AdamW(self.unet.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.scheduler = train_scheduler()
        self.step = 0
        self.warm_from = 0  # where the learning-rate warm-up starts (a fresh optimizer re-warms)
        self.wall_time = 0.0
        alphas = self.scheduler.alphas_cumprod
        self.snr = (alphas / (1 - alphas)).to(self.device)

    # ---- one step -------------------------------------------------------------------------
    def train_step(self) -> float:
        import torch

        cfg = self.config
        images, conditions, _ = training_batch(cfg, self.step)
        images, conditions = images.to(self.device), conditions.to(self.device)
        generator = torch.Generator().manual_seed(hash((cfg.seed, self.step, "noise")) & 0x7FFFFFFF)
        noise = torch.randn(images.shape, generator=generator).to(self.device)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (images.shape[0],), generator=generator)
        keep = (torch.rand(images.shape[0], generator=generator) >= cfg.condition_dropout).float()
        t, keep = t.to(self.device), keep.to(self.device)
        noisy = self.scheduler.add_noise(images, noise, t)
        from compose.world.model import denoise

        pred = denoise(self.unet, noisy, conditions * keep[:, None, None, None], t, cfg.model["patch"])
        if self.scheduler.config.prediction_type == "sample":
            target, weight = images, torch.ones_like(t, dtype=images.dtype)
        else:  # epsilon, with min-SNR-gamma weighting (Hang et al. 2023)
            snr = self.snr[t]
            target = noise
            weight = torch.clamp(snr, max=cfg.min_snr_gamma) / snr if cfg.min_snr_gamma else torch.ones_like(snr)
        loss = (weight * (pred - target).pow(2).mean(dim=(1, 2, 3))).mean()
        lr = learning_rate(cfg, self.step, self.warm_from)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.optimizer.step()
        decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for k, v in self.unet.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                else:
                    self.ema[k].copy_(v)
        self.step += 1
        return float(loss.detach())

    # ---- the loop -------------------------------------------------------------------------
    def run(self, progress: bool = True) -> None:
        import torch
        from tqdm.auto import tqdm

        torch.set_num_threads(self.config.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        log = (self.out / "loss.jsonl").open("a", encoding="utf-8")
        bar = tqdm(total=self.config.steps, initial=self.step, disable=not progress, desc="training",
                   dynamic_ncols=True)
        recent: list[float] = []
        try:
            while self.step < self.config.steps:
                start = time.perf_counter()
                loss = self.train_step()
                self.wall_time += time.perf_counter() - start
                recent.append(loss)
                bar.update(1)
                if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                    mean = sum(recent) / len(recent)
                    log.write(json.dumps({"step": self.step, "loss": round(mean, 6),
                                          "wall_s": round(self.wall_time, 2)}) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{mean:.4f}")
                    recent = []
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    self.save()
        finally:
            bar.close()
            log.close()

    # ---- checkpoints ----------------------------------------------------------------------
    def save(self) -> Path:
        """Write the checkpoint atomically (a temporary folder renamed over the old one)."""
        from safetensors.torch import save_file

        final = self.out / CHECKPOINT
        tmp = self.out / f".{CHECKPOINT}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous().cpu() for k, v in self.unet.state_dict().items()}, tmp / "model.safetensors")
        save_file({k: v.contiguous().cpu() for k, v in self.ema.items()}, tmp / "ema.safetensors")
        tensors, groups = optimizer_tensors(self.optimizer)
        save_file(tensors, tmp / "optimizer.safetensors")
        state = {"step": self.step, "warm_from": self.warm_from, "wall_time_s": self.wall_time, "config": asdict(self.config),
                 "param_groups": groups, "device": self.device}
        (tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
        old = self.out / f".{CHECKPOINT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, folder: str | Path | None = None) -> bool:
        """Resume from ``folder`` (default ``out/checkpoint``); ``False`` when there is none."""
        from safetensors.torch import load_file

        folder = Path(folder) if folder else self.out / CHECKPOINT
        if not (folder / "state.json").exists():
            return False
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        self.unet.load_state_dict(load_file(folder / "model.safetensors", device=self.device))
        self.ema = load_file(folder / "ema.safetensors", device=self.device)
        load_optimizer(self.optimizer, load_file(folder / "optimizer.safetensors", device=self.device),
                       state["param_groups"])
        self.step = int(state["step"])
        self.warm_from = int(state.get("warm_from", 0))
        self.wall_time = float(state["wall_time_s"])
        return True

    def init_from_weights(self, path: str | Path) -> None:
        """Start from exported weights (``compose world train --export``): model and EMA take
        them, the step and wall time continue from the file's metadata (so the data stream goes on
        with batches never seen), and the optimizer starts fresh with its own warm-up."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as fh:
            metadata = dict(fh.metadata() or {})
        from compose.world.model import dequantize_state

        weights = dequantize_state(load_file(str(path)))
        self.unet.load_state_dict(weights)
        self.ema = {k: v.detach().clone().to(self.device) for k, v in self.unet.state_dict().items()}
        self.step = self.warm_from = int(metadata.get("steps", 0))
        self.wall_time = float(metadata.get("wall_time_s", 0.0))


def optimizer_tensors(optimizer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An optimizer's state as flat safetensors-ready tensors plus JSON-ready param groups."""
    sd = optimizer.state_dict()
    tensors = {f"state.{index}.{name}": value.contiguous().cpu()
               for index, entry in sd["state"].items() for name, value in entry.items()}
    return tensors, sd["param_groups"]


def load_optimizer(optimizer, tensors: dict[str, Any], groups: list[dict[str, Any]]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def export_weights(out: str | Path, target: str | Path, *, extra: dict[str, Any] | None = None,
                   half: bool = True, int8: bool = False) -> str:
    """Write the EMA weights of a run's checkpoint to ``target`` (safetensors, float16 unless
    ``half=False``, or int8 per output channel with ``int8=True``
    (:func:`compose.world.model.quantize_state`), with the model config and training facts as
    metadata) and return the file's sha256. The backbone computes in float32 whatever the file
    stores."""
    from safetensors.torch import load_file, save_file

    folder = Path(out) / CHECKPOINT
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    weights = load_file(folder / "ema.safetensors")
    metadata = {"model_config": json.dumps(state["config"]["model"]), "steps": str(state["step"]),
                "seed": str(state["config"]["seed"]), "wall_time_s": f"{state['wall_time_s']:.0f}",
                "format": "compose-embedded-v1"}
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    if int8:
        from compose.world.model import quantize_state

        weights = quantize_state(weights)
        metadata["storage"] = "int8 per output channel"
    elif half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    save_file({k: v.contiguous() for k, v in weights.items()}, target, metadata=metadata)
    return file_sha256(target)


def file_sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def train(config: TrainConfig, out: str | Path, *, device: str | None = None, resume: bool = True,
          progress: bool = True, init: str | Path | None = None) -> Trainer:
    """Train (resuming from ``out`` when it has a checkpoint, else from the exported weights
    ``init`` when given) until ``config.steps``."""
    trainer = Trainer(config, out, device=device)
    if not (resume and trainer.load()) and init is not None:
        trainer.init_from_weights(init)
    trainer.run(progress=progress)
    return trainer


