"""Finding model weights on this machine only: a local folder or the Hugging Face cache.

Open-vocabulary detectors and the CLIP color classifier load their weights with
``local_files_only=True``; nothing is downloaded. A model that is not here is a coded error
(E504) that lists every place looked in.

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
from pathlib import Path

from compose.errors import BackboneError


def hf_cache_dir() -> str:
    """The Hugging Face hub cache folder this process would read (``HF_HUB_CACHE`` etc.)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return os.path.join(home, "hub")


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
        except Exception:  # LocalEntryNotFoundError and friends: not in the cache
            looked.append(f"the Hugging Face cache {hf_cache_dir()} (id {text!r})")
    raise BackboneError("E504", name=name, looked="; ".join(looked))


def require_transformers(name: str) -> None:
    """Raise E505 naming the install command when ``transformers`` is not installed."""
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackboneError("E505", name=name, package="transformers",
                            install="pip install 'compose-scenes[transformers]'") from exc
