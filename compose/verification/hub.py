"""Moved to :mod:`compose.weights` (one module finds every model's weights); these names stay
importable from here."""

from compose.weights import hf_cache_dir, require_transformers, resolve_model  # noqa: F401
