"""A resumable batch runner: a queue of items, one result row each, appended as it is made.

Long runs (verifying thousands of images, generating them) share one shape: items with stable
ids go in; each yields one JSON row; rows are appended to a JSONL file and flushed to disk
(``fsync``) one by one, so a run killed at any moment keeps every finished row. Started again
with the same results file, :func:`run_batch` reads the ids already there and skips them:
nothing is done twice and nothing is lost. A line torn by the kill (half written) is cut off
before appending.

Derived files (another format of the same rows, such as GenEval's ``results.jsonl``) are
projections of the main rows: rebuilt from the main file when a run starts (written to a
temporary file, then renamed over the old one) and appended row by row after that.

An item that fails with an error becomes an error row (``{"id": ..., "error": {"code", "message"}}``)
and the batch goes on.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
>>> items = [BatchItem(id=str(i), payload=i) for i in range(5)]
>>> run_batch(items, lambda item: {"square": item.payload ** 2}, results=out, progress=False).done_now
5
>>> run_batch(items, lambda item: {"square": item.payload ** 2}, results=out, progress=False).done_now
0
>>> [row["square"] for row in read_rows(out)]
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

Row = dict[str, Any]


@dataclass
class BatchItem:
    """One unit of work: a stable ``id`` (unique in the batch) and whatever the worker needs."""

    id: str
    payload: Any = None


@dataclass
class BatchStats:
    """What a run did: items in the queue, rows found from earlier runs, rows made now, errors."""

    total: int
    done_before: int
    done_now: int
    errors: int
    seconds: float
    rows_per_second: float = 0.0
    skipped_ids: list[str] = field(default_factory=list, repr=False)


def read_rows(path: str | os.PathLike, *, repair: bool = False) -> list[Row]:
    """The rows of a JSONL file; a torn last line (no newline, or not JSON) is ignored, and
    cut off the file when ``repair`` is true. A damaged line elsewhere is skipped."""
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    rows: list[Row] = []
    good_end = 0
    offset = 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith(b"\n"):
            break  # torn by a kill mid-write
        text = line.strip()
        if text:
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError:
                continue
        good_end = offset
    if repair and good_end < len(data):
        with open(p, "r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return rows


def write_rows_atomic(path: str | os.PathLike, rows: Iterable[Row]) -> None:
    """Write a whole JSONL file: to a temporary file beside it, fsync, then rename over it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file by temporary file and rename, so readers never see half of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


class RowWriter:
    """Appends JSON rows to a file, each flushed and fsynced before the next one starts."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, row: Row) -> None:
        # one write call per row: a kill leaves at most one torn line, at the end
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def error_row(item_id: str, exc: BaseException) -> Row:
    """The row for an item that failed: its id and the error's code and message."""
    code = getattr(exc, "code", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return {"id": item_id, "error": {"code": code, "message": message}}


def run_batch(items: Sequence[BatchItem], work: Callable[[BatchItem], Row], *, results: str | os.PathLike,
              derived: dict[str | os.PathLike, Callable[[Row], Row | None]] | None = None,
              on_error: Callable[[BatchItem, BaseException], Row] | None = None, progress: bool = True,
              description: str = "batch", limit: int | None = None) -> BatchStats:
    """Run ``work`` on every item whose id is not yet in ``results``; append one row each.

    Parameters
    ----------
    items : sequence of BatchItem
        The queue, in order; ids must be unique.
    work : callable
        ``work(item) -> row``; the runner adds ``"id"``.
    results : path
        The main JSONL file: the record of what is done.
    derived : dict, optional
        ``{path: projection}``: further JSONL files whose rows are ``projection(row)`` (``None``
        to leave a row out), kept in step with the main file.
    on_error : callable, optional
        ``on_error(item, exc) -> row`` for an item whose ``work`` raised; the default is
        :func:`error_row`. The batch goes on either way.
    progress : bool
        Show a progress bar (tqdm, on standard error).
    limit : int, optional
        Stop after this many new rows (the rest stay queued for the next run).
    """
    from tqdm import tqdm

    started = time.perf_counter()
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"batch item id {dup!r} appears twice; ids must be unique")
    rows = read_rows(results, repair=True)
    done = {str(row.get("id")) for row in rows}
    derived = {Path(p): f for p, f in (derived or {}).items()}
    for path, project in derived.items():
        write_rows_atomic(path, (r for r in (project(row) for row in rows) if r is not None))
    pending = [item for item in items if item.id not in done]
    if limit is not None:
        pending = pending[:limit]
    writers = {path: RowWriter(path) for path in derived}
    errors = 0
    made = 0
    try:
        with RowWriter(results) as main, tqdm(total=len(items), initial=len(items) - len([i for i in items if i.id not in done]),
                                              desc=description, unit="item", disable=not progress,
                                              dynamic_ncols=True) as bar:
            for item in pending:
                try:
                    row = dict(work(item))
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
                    row = (on_error or error_row)(item, exc)
                row["id"] = item.id
                errors += "error" in row
                main.write(row)
                for path, project in derived.items():
                    projected = project(row)
                    if projected is not None:
                        writers[path].write(projected)
                made += 1
                bar.update(1)
    finally:
        for writer in writers.values():
            writer.close()
    seconds = time.perf_counter() - started
    return BatchStats(total=len(items), done_before=len(done & set(ids)), done_now=made, errors=errors,
                      seconds=seconds, rows_per_second=made / seconds if seconds > 0 else 0.0)
