"""Finding model weights on this machine only: a local folder or the Hugging Face cache.

Nothing is downloaded. Backbones load diffusers pipelines with ``local_files_only=True``
(:func:`load_local`, E403 naming where it looked); detectors and the CLIP color classifier find
their folder with :func:`resolve_model` (E504). A missing package is E405 (backbones) or E505
(detectors) with the install command.

Examples
--------
>>> try:
...     resolve_model("owlv2", "/nonexistent/owlv2-model")
... except Exception as err:
...     print(err.code)
E504
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from compose.errors import BackboneError


def hf_cache_dir() -> str:
    """The Hugging Face hub cache folder this process would read (``HF_HUB_CACHE`` etc.)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return os.path.join(home, "hub")


def require_package(package: str, name: str) -> None:
    """Raise E405 when ``package`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(package) is None:
        extra = f"'compose-scenes[{package}]'" if package == "transformers" else package
        raise BackboneError("E405", name=name, package=package,
                            install=f"install it with `pip install {extra}`")


def require_transformers(name: str) -> None:
    """Raise E505 naming the install command when ``transformers`` is not installed."""
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackboneError("E505", name=name, package="transformers",
                            install="pip install 'compose-scenes[transformers]'") from exc


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


def resolve_model(name: str, model: str | os.PathLike) -> str:
    """A local folder holding ``model``: the path itself, or its snapshot in the HF cache.

    Parameters
    ----------
    name : str
        The detector (or classifier) asking, for the error message.
    model : str or path
        A folder, or a hub id such as ``"google/owlv2-base-patch16-ensemble"``.

    Raises
    ------
    BackboneError
        E504 when the model is in neither place; E505 when ``huggingface_hub`` is missing.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    looked = [f"the folder {path}"]
    if not path.is_absolute() and text.count("/") <= 1 and not text.startswith("."):
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:  # pragma: no cover - transformers brings huggingface_hub
            raise BackboneError("E505", name=name, package="huggingface_hub",
                                install="pip install 'compose-scenes[transformers]'") from exc
        try:
            return snapshot_download(text, local_files_only=True)
        except Exception:  # noqa: BLE001 - LocalEntryNotFoundError and friends: not in the cache
            looked.append(f"the Hugging Face cache {hf_cache_dir()} (id {text!r})")
    raise BackboneError("E504", name=name, looked="; ".join(looked))
