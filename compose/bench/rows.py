"""The benchmarks' rows: one per suite item, appended and fsynced as each finishes, resumable.

Both suites run on the batch runner (:func:`compose.batch.run_batch`), so a benchmark killed at
any point keeps every finished row and a rerun does only what is missing. A row is a result only
for the backbone that made it: rows of another backbone, and error rows, are done again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compose.batch import BatchItem, latest_rows, run_batch
from compose.errors import ComposeError
from compose.io import read_rows


def suite_rows(suite: Sequence[dict[str, Any]], work: Callable[[dict[str, Any]], dict[str, Any]], results: Path, *,
               backbone: str, description: str, progress: bool = True) -> list[dict[str, Any]]:
    """Run ``work`` on every item of ``suite`` (dicts with an ``"id"``) that has no row of
    ``backbone`` in ``results`` yet; returns the rows in suite order.

    An item whose work raised is an error row in ``results`` (done again on the next run) and
    stops the benchmark here with that error, since a summary without it would be wrong.
    """
    items = [BatchItem(id=str(item["id"]), payload=item) for item in suite]
    run_batch(items, lambda item: work(item.payload), results=results, progress=progress,
              description=description,
              retry=lambda row: row.get("backbone") != backbone or "error" in row)
    latest = latest_rows(read_rows(results))
    rows = [latest[item.id] for item in items]
    failed = [row for row in rows if "error" in row]
    if failed:
        error = failed[0]["error"]
        raise ComposeError.coded(str(error.get("code")), str(error.get("message")))
    return rows
