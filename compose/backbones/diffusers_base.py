"""What every diffusers backbone shares: options (from code and from a config file), where and how
it runs (:class:`Runtime`), seeded generators, and :class:`DiffusersBackbone`, the one constructor
(options -> checks -> local-only loading -> placement) the diffusers backbones inherit.

Backbone options can come from a config file (``backbones.toml`` or ``.json``) mapping a backbone
name to its options::

    [sd-regional]
    model = "/models/stable-diffusion-v1-5"
    device = "cuda"
    dtype = "fp16"

Options given in code (``get_backbone(name, model=...)``) win over the file's.

Examples
--------
>>> parse_dtype_name("half"), parse_dtype_name("bf16"), parse_dtype_name(None, device="cpu")
('fp16', 'bf16', 'fp32')
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from compose.backbones.base import Backbone
from compose.errors import BackboneError
from compose.weights import load_local, require_package

if TYPE_CHECKING:  # pragma: no cover
    import torch


DTYPES = {"fp16": "float16", "float16": "fp16", "half": "fp16", "bf16": "bfloat16",
          "bfloat16": "bf16", "fp32": "float32", "float32": "fp32", "float": "fp32"}


DEVICES = ("auto", "cuda", "mps", "cpu")


CONFIG_ENV = "COMPOSE_BACKBONES_CONFIG"


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


class DiffusersBackbone(Backbone):
    """A backbone around one diffusers pipeline, loaded from local files only.

    The constructor is the same for all of them: the options given (``None`` = unset) over the
    config file's over :attr:`defaults` (an option not in :attr:`defaults` is E406), then
    :meth:`check_options`, the packages in :attr:`requires` (E405), the :class:`Runtime`,
    :meth:`load_pipeline` (E403 naming where it looked), :meth:`check_pipeline` and placement on
    the device. Subclasses set :attr:`name`, :attr:`pipeline_class` and :attr:`defaults`, and add
    their own rules in :meth:`check_options` / :meth:`check_pipeline` / :meth:`check_inputs`.
    """

    #: The diffusers pipeline class name; ``"DiffusionPipeline"`` takes the folder's own class.
    pipeline_class: ClassVar[str] = "DiffusionPipeline"
    defaults: ClassVar[dict[str, Any]] = {}
    requires: ClassVar[tuple[str, ...]] = ("transformers",)

    def __init__(self, model: str | None = None, *, config: str | os.PathLike | None = None,
                 **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise BackboneError("E406", argument=unknown[0], value=options[unknown[0]], name=self.name,
                                expected=f"expected one of {', '.join(sorted(self.defaults))}")
        self.options = with_config(self.name, config, {"model": model, **options}, self.defaults)
        self.check_options(self.options)
        for package in self.requires:
            require_package(package, self.name)
        opts = self.options
        self.runtime = Runtime.from_options(self.name, opts["device"], opts["dtype"],
                                            opts["attention_slicing"], opts["cpu_offload"],
                                            opts["progress"])
        self.pipe = self.load_pipeline()
        self.check_pipeline(self.pipe)
        self.runtime.place(self.pipe)
        self.capture: list | None = None  # set to a list to record attention probabilities

    @classmethod
    def from_pipeline(cls, pipe: Any, **options: Any) -> DiffusersBackbone:
        """The backbone around a pipeline already built (e.g. with random weights on a GPU, too
        large to save and load), placed where it is; options as for the constructor."""
        import torch

        self = cls.__new__(cls)
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            raise BackboneError("E406", argument=unknown[0], value=options[unknown[0]], name=cls.name,
                                expected=f"expected one of {', '.join(sorted(cls.defaults))}")
        self.options = {**cls.defaults, **{k: v for k, v in options.items() if v is not None}}
        self.check_options(self.options)
        dtype = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(pipe.dtype, "fp32")
        self.runtime = Runtime(device=str(pipe.device), dtype=dtype)
        self.pipe = pipe
        self.check_pipeline(pipe)
        pipe.set_progress_bar_config(disable=not self.options.get("progress"))
        self.capture = None
        return self

    def check_options(self, options: dict[str, Any]) -> None:
        """Rules on the options, before anything is loaded (E406)."""
        if "base_ratio" in options and not 0.0 <= float(options["base_ratio"]) <= 1.0:
            raise BackboneError("E406", argument="base_ratio", value=options["base_ratio"],
                                name=self.name, expected="expected a number in [0, 1]")

    def load_pipeline(self) -> Any:
        import diffusers

        return load_local(getattr(diffusers, self.pipeline_class), self.options["model"],
                          name=self.name, torch_dtype=self.runtime.torch_dtype)

    def check_pipeline(self, pipe: Any) -> None:
        """Rules on what was loaded (E406)."""
