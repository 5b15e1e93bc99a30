"""Batch work: items with stable ids in, one result row each out, resumable, on any engine.

- :mod:`~compose.batch.items`: the item protocol (:class:`BatchItem`, :class:`ItemOutput`,
  :class:`ItemError`, :func:`run_item`) that engines and tasks share;
- :mod:`~compose.batch.runner`: :func:`run_batch`, which appends and fsyncs rows as items finish
  and skips what an earlier run did;
- :mod:`~compose.batch.engines`: where items run (``local`` processes, ``ray`` actors);
- :mod:`~compose.batch.generate`: ``compose generate-batch``'s task and spec files.
"""

from compose.batch.items import SAFE_ID, BatchItem, ItemError, ItemOutput, Row, error_row, run_item
from compose.batch.runner import BatchStats, latest_rows, run_batch
from compose.io import RowWriter, read_rows, write_rows_atomic, write_text_atomic, write_tree_atomic

__all__ = ["SAFE_ID", "BatchItem", "BatchStats", "ItemError", "ItemOutput", "Row", "RowWriter", "error_row",
           "latest_rows", "read_rows", "run_batch", "run_item", "write_rows_atomic", "write_text_atomic",
           "write_tree_atomic"]
