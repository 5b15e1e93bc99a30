"""One registry mechanism for everything chosen by name: backbones, detectors, engines.

A :class:`Registry` maps a name to ``"package.module:attr"``; the module is imported only when
the name is asked for, so registering costs nothing and ``import compose`` stays quick. An
unknown name raises the registry's own coded error, listing the names it knows (as spaCy's
``registry`` does through ``catalogue``).

Examples
--------
>>> from compose.errors import UsageError
>>> things = Registry("thing", UsageError, "E006", field="argument")
>>> things.register("ordered", "collections:OrderedDict")
>>> things.get("ordered").__name__
'OrderedDict'
>>> things.names()
['ordered']
>>> things.get("nope")
Traceback (most recent call last):
...
compose.errors.UsageError: E006: invalid value for thing: 'nope'; expected one of ordered
"""

from __future__ import annotations

import importlib
from typing import Any


class Registry:
    """Names to lazily imported objects, of one ``kind``.

    Parameters
    ----------
    kind : str
        What is registered (``"backbone"``), for messages.
    error : type
        The :class:`~compose.errors.ComposeError` subclass raised for an unknown name.
    code : str
        Its code; the catalogue message gets ``name`` and ``expected`` (the known names),
        or, with ``field``, ``{field}=kind``, ``value=name`` and ``expected``.
    """

    def __init__(self, kind: str, error: type, code: str, *, field: str | None = None) -> None:
        self.kind, self.error, self.code, self.field = kind, error, code, field
        self._targets: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        """Register ``target`` (``"package.module:attr"``) as ``name``."""
        self._targets[name] = target

    def names(self) -> list[str]:
        """The registered names, in the order they were registered."""
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def target(self, name: str) -> str:
        """The import path registered as ``name``; the registry's error for an unknown name."""
        if name not in self._targets:
            expected = ", ".join(self._targets) or "none registered"
            if self.field:
                raise self.error(self.code, **{self.field: self.kind}, value=name,
                                 expected=f"one of {expected}")
            raise self.error(self.code, name=name, expected=expected)
        return self._targets[name]

    def get(self, name: str) -> Any:
        """The object registered as ``name``, imported now."""
        module, _, attr = self.target(name).partition(":")
        return getattr(importlib.import_module(module), attr)
