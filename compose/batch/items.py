"""The item protocol every batch engine and task shares: an item in, an output or an error out.

Engines (:mod:`compose.batch.engines`) run tasks on items and hand back what :func:`run_item`
returns; the runner (:mod:`compose.batch.runner`) writes it. This module is what both sides
import, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]

#: Item ids usable as folder names (``files_dir/<id>``).
SAFE_ID = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"


@dataclass
class BatchItem:
    """One unit of work: a stable ``id`` (unique in the batch) and whatever the worker needs."""

    id: str
    payload: Any = None


@dataclass
class ItemOutput:
    """What a task returns for an item that makes files: its row and ``{relative path: bytes}``."""

    row: Row
    files: dict[str, bytes] = field(default_factory=dict)


class ItemError(Exception):
    """An item's error as it crosses from a worker: its code, message and exception type.

    Exceptions are carried back as this (always picklable) rather than as themselves, so an error
    raised in a worker process or a Ray actor reads the same as one raised here.
    """

    def __init__(self, code: str, message: str, kind: str = "") -> None:
        super().__init__(code, message, kind)
        self.code, self.message, self.kind = code, message, kind

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @classmethod
    def from_exception(cls, exc: BaseException) -> ItemError:
        if isinstance(exc, ItemError):
            return exc
        code = getattr(exc, "code", None) or type(exc).__name__
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return cls(str(code), str(message), type(exc).__name__)


def run_item(task: Callable[[BatchItem], Any], item: BatchItem) -> tuple[Any, ItemError | None]:
    """``(task(item), None)``, or ``(None, error)`` when the task raised; what every engine's
    worker runs, so no exception ever has to be pickled."""
    try:
        return task(item), None
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
        return None, ItemError.from_exception(exc)


def error_row(item_id: str, exc: BaseException) -> Row:
    """The row for an item that failed: its id and the error's code and message."""
    code = getattr(exc, "code", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return {"id": item_id, "error": {"code": code, "message": message}}
