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
and the batch goes on. Rows are appended, never rewritten: an item done again (``retry``) gets a
new row, and the last row of an id is its result (:func:`latest_rows`).

The work can run elsewhere: an :class:`~compose.batch.engines.Engine` (``local`` with worker processes,
``ray`` with one actor per GPU or CPU worker) runs a picklable task on the items and hands each
outcome back; only this process writes, so rows stay whole and files land atomically. A task
that makes files returns an :class:`ItemOutput`; its files are written into ``files_dir/<id>/``
(a temporary folder renamed into place) before the row is appended.

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

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compose.batch.items import BatchItem, ItemOutput, Row, error_row
from compose.errors import ComposeError, UsageError
from compose.io import (
    FolderLock,
    RowWriter,
    read_rows,
    remove_partial_folders,
    write_rows_atomic,
    write_tree_atomic,
)


class Terminated(KeyboardInterrupt):
    """The run got SIGTERM: it stops as an interrupt does (workers stopped, every finished row
    already on disk), and the command exits 143."""

    exit_code = 143


def _terminate(signum, frame) -> None:
    raise Terminated()


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
    counts: dict[str, int] = field(default_factory=dict)


def latest_rows(rows: Iterable[Row]) -> dict[str, Row]:
    """The last row of each id, in the order ids first appear: an item done again (a retry)
    appends a new row, and the newest one is its result.

    >>> latest_rows([{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "a", "v": 3}])
    {'a': {'id': 'a', 'v': 3}, 'b': {'id': 'b', 'v': 2}}
    """
    out: dict[str, Row] = {}
    for row in rows:
        out[str(row.get("id"))] = row
    return out


def run_batch(items: Sequence[BatchItem], work: Callable[[BatchItem], Any], *, results: str | os.PathLike,
              derived: dict[str | os.PathLike, Callable[[Row], Row | None]] | None = None,
              on_error: Callable[[BatchItem, BaseException], Row] | None = None, progress: bool = True,
              description: str = "batch", limit: int | None = None, engine: Any = None,
              retry: Callable[[Row], bool] | None = None, files_dir: str | os.PathLike | None = None) -> BatchStats:
    """Run ``work`` on every item whose id is not yet in ``results``; append one row each.

    Parameters
    ----------
    items : sequence of BatchItem
        The queue, in order; ids must be unique.
    work : callable
        ``work(item) -> row`` or ``-> ItemOutput(row, files)``; the runner adds ``"id"``. If it
        has a ``setup()`` method, each worker calls it once before its first item (load a model
        there). With an engine that runs workers elsewhere it must be picklable.
    results : path
        The main JSONL file: the record of what is done.
    derived : dict, optional
        ``{path: projection}``: further JSONL files whose rows are ``projection(row)`` (``None``
        to leave a row out), kept in step with the main file.
    on_error : callable, optional
        ``on_error(item, exc) -> row`` for an item whose ``work`` raised; the default is
        :func:`error_row`. The batch goes on either way.
    progress : bool
        Show a progress bar with the rate and time left (tqdm, on standard error).
    limit : int, optional
        Stop after this many new rows (the rest stay queued for the next run).
    engine : Engine, optional
        Where the work runs (:func:`compose.batch.engines.get_engine`); default: this process.
        Rows are appended in the order items finish.
    retry : callable, optional
        ``retry(row) -> bool``: items whose latest row it accepts are done again (a new row is
        appended), e.g. error rows after a crash.
    files_dir : path, optional
        Where the files of an :class:`ItemOutput` go: ``files_dir/<id>/``, written atomically
        before the row; leftovers of a killed run are removed first.

    The results file's folder is locked for the run (:class:`~compose.io.FolderLock`): a second
    run on it is refused (E606). SIGTERM stops the run as Ctrl-C does (:class:`Terminated`):
    the workers are stopped and every finished row is already on disk.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise UsageError("E006", argument="limit", value=limit, expected="a whole number, 0 or more")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise UsageError("E608", id=dup)
    # one run per output folder: a second run would do the same items at the same time
    lock = FolderLock(Path(results).parent).acquire()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run_locked(items, work, results=results, derived=derived, on_error=on_error, progress=progress,
                           description=description, limit=limit, engine=engine, retry=retry, files_dir=files_dir)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        lock.release()


def _run_locked(items, work, *, results, derived, on_error, progress, description, limit, engine, retry,
                files_dir) -> BatchStats:
    from tqdm import tqdm

    from compose.batch.engines.local import LocalEngine

    started = time.perf_counter()
    ids = [item.id for item in items]
    rows = read_rows(results, repair=True)
    latest = latest_rows(rows)
    done = {i for i, row in latest.items() if not (retry is not None and retry(row))}
    derived = {Path(p): f for p, f in (derived or {}).items()}
    for path, project in derived.items():
        write_rows_atomic(path, (r for r in (project(row) for row in rows) if r is not None))
    pending = [item for item in items if item.id not in done]
    if limit is not None:
        pending = pending[:limit]
    if files_dir is not None:
        remove_partial_folders(files_dir)
    own_engine = engine is None
    engine = LocalEngine(workers=1) if own_engine else engine
    outcomes = engine.run(work, pending)
    writers = {path: RowWriter(path) for path in derived}
    errors = 0
    made = 0
    counts: dict[str, int] = {}
    try:
        with RowWriter(results) as main, tqdm(total=len(items), initial=sum(i.id in done for i in items),
                                              desc=description, unit="item", disable=not progress,
                                              dynamic_ncols=True) as bar:
            for item, output, failure in outcomes:
                if failure is not None and getattr(failure, "setup", False):
                    # the task cannot start at all (a backbone's weights, an unknown detector):
                    # a run-level error, not one error row per item
                    raise ComposeError.coded(failure.code, failure.message)
                row = None
                if failure is None:
                    try:
                        row = _store(item, output, files_dir)
                    except Exception as exc:  # noqa: BLE001 - a file that cannot be written fails its item
                        failure = exc
                if failure is not None:
                    row = (on_error or error_row)(item, failure)
                row = {"id": item.id, **{k: v for k, v in row.items() if k != "id"}}
                errors += "error" in row
                main.write(row)
                for path, project in derived.items():
                    projected = project(row)
                    if projected is not None:
                        writers[path].write(projected)
                made += 1
                status = row.get("status")
                if status is not None:
                    counts[str(status)] = counts.get(str(status), 0) + 1
                    bar.set_postfix(counts, refresh=False)
                bar.update(1)
    finally:
        outcomes.close()  # stops the workers (and cancels queued items) even on an interrupt
        if own_engine:
            engine.close()
        for writer in writers.values():
            writer.close()
    seconds = time.perf_counter() - started
    return BatchStats(total=len(items), done_before=len(done & set(ids)), done_now=made, errors=errors,
                      seconds=seconds, rows_per_second=made / seconds if seconds > 0 else 0.0, counts=counts)


def _store(item: BatchItem, output: Any, files_dir: str | os.PathLike | None) -> Row:
    """The row of a finished item, after writing its files (if any) into ``files_dir/<id>``."""
    if isinstance(output, ItemOutput):
        if output.files:
            if files_dir is None:
                raise ValueError("the task returned files but the batch has no files_dir")
            write_tree_atomic(Path(files_dir) / item.id, output.files)
        return dict(output.row)
    return dict(output)
