"""Engines: where a batch's items run. One interface, registered by name.

An engine takes a task (``task(item) -> row``, optionally with ``setup()`` run once per worker
before its first item, e.g. to load a backbone) and a list of :class:`~compose.batch.BatchItem`,
and yields ``(item, output, error)`` as each item finishes (``error`` an
:class:`~compose.batch.ItemError`, else ``None``). It never writes anything: the batch runner
(:func:`compose.batch.run_batch`), in the calling process, does.

- ``local``: in this process (``workers=1``), or ``workers`` processes (spawned, one task copy
  and one loaded model each);
- ``ray``: one Ray actor per worker (per GPU on a GPU cluster), on a local Ray instance or on a
  cluster (``address``); Ray is an optional extra (E603 without it).

Each worker sets its torch thread count to ``threads`` (default: the machine's CPUs shared
evenly among the workers), so the same command gives the same numbers on either engine.

Examples
--------
>>> from compose.batch import BatchItem
>>> engine = get_engine("local")
>>> [(item.id, out, err) for item, out, err in engine.run(lambda item: {"twice": 2 * item.payload},
...                                                       [BatchItem("a", 1), BatchItem("b", 2)])]
[('a', {'twice': 2}, None), ('b', {'twice': 4}, None)]
>>> get_engine("spark")
Traceback (most recent call last):
...
compose.errors.UsageError: E602: unknown engine 'spark'; expected one of local, ray
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from compose.batch import BatchItem, ItemError, run_item
from compose.errors import UsageError

Outcome = tuple[BatchItem, Any, "ItemError | None"]

#: Engine name -> "module:Class"; modules are imported only when asked for.
ENGINES: dict[str, str] = {
    "local": "compose.engines:LocalEngine",
    "ray": "compose.engines.ray_actors:RayEngine",
}


class Engine:
    """Base of engines: :meth:`run` yields outcomes as items finish; :meth:`close` lets go of
    whatever the engine started (a Ray instance)."""

    name = ""

    def run(self, task: Callable[[BatchItem], Any], items: Sequence[BatchItem]) -> Iterator[Outcome]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_engine(name: str = "local", **options: Any) -> Engine:
    """The engine registered as ``name`` with its options; E602 for an unknown name."""
    import importlib

    if name not in ENGINES:
        raise UsageError("E602", name=name, expected=", ".join(ENGINES))
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)(**options)


def default_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker: the CPUs shared evenly, at least one.

    >>> default_threads(1, cpus=8), default_threads(3, cpus=8), default_threads(16, cpus=8)
    (8, 2, 1)
    """
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


def configure_threads(threads: int | None, *, environment: bool = False) -> None:
    """Pin this process's torch thread count (and, in a worker process of its own, the
    OpenMP/MKL variables, which torch reads when it is first imported); a no-op for ``None``.

    Results of CPU kernels depend on how reductions are split among threads (the embedded
    model's images do), so every worker of an engine runs with the same count. Torch is not
    imported here: a task that never needs it does not pay for it. Engines call this again
    before every item, for tasks that import torch along the way.
    """
    if not threads:
        return
    if environment:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))


def current_threads() -> int | None:
    """This process's torch thread count, or ``None`` when torch is not imported."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def worker_died(item: BatchItem, reason: str, kind: str) -> ItemError:
    """The error of an item whose worker died under it (E605)."""
    from compose.errors import Errors

    return ItemError("E605", Errors.E605.format(item=item.id, reason=reason), kind)


def setup_task(task: Any) -> None:
    """Run a task's ``setup()`` if it has one (once per worker, before its first item)."""
    setup = getattr(task, "setup", None)
    if callable(setup):
        setup()


class LocalEngine(Engine):
    """Items run here: in this process (``workers=1``) or in ``workers`` spawned processes.

    Parameters
    ----------
    workers : int
        Processes. With one, the task runs in this process, in queue order; with more, the task
        is pickled to each worker process once (``setup()`` runs there) and items are handed out
        as workers free up, at most ``2 * workers`` in flight.
    threads : int, optional
        Torch threads per worker (default :func:`default_threads`). With one worker that is this
        process, whose torch thread count is set for the run and restored after.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise UsageError("E006", argument="workers", value=workers, expected="a whole number, 1 or more")
        self.workers = workers
        self.threads = threads if threads is not None else default_threads(workers)

    def describe(self) -> str:
        return f"local, {self.workers} worker(s)" + (f", {self.threads} thread(s) each" if self.threads else "")

    def run(self, task, items):
        if self.workers == 1:
            yield from self._run_here(task, items)
        else:
            yield from self._run_pool(task, items)

    def _run_here(self, task, items):
        if not items:
            return
        restore = current_threads()
        configure_threads(self.threads)
        try:
            try:
                setup_task(task)
            except Exception as exc:  # noqa: BLE001 - a setup failure fails every item, with its reason
                error = ItemError.from_exception(exc)
                for item in items:
                    yield item, None, error
                return
            for item in items:
                configure_threads(self.threads)
                output, error = run_item(task, item)
                yield item, output, error
        finally:
            if restore is not None:
                configure_threads(restore)

    def _run_pool(self, task, items):
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(items)
        queue.reverse()  # pop() from the end takes items in order

        def new_pool():
            # spawn, not fork: the parent may hold torch's thread pools, which do not survive a fork
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init, initargs=(task, self.threads))

        pool = new_pool()
        in_flight: dict[Any, BatchItem] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < 2 * self.workers:
                    item = queue.pop()
                    in_flight[pool.submit(_worker_run, item)] = item
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    item = in_flight.pop(future)
                    try:
                        output, error = future.result()
                    except BrokenProcessPool:
                        broken = True
                        output, error = None, worker_died(item, "the process ended (killed, or out of memory)",
                                                          "BrokenProcessPool")
                    except Exception as exc:  # noqa: BLE001 - e.g. an output that cannot be pickled
                        output, error = None, ItemError.from_exception(exc)
                    yield item, output, error
                if broken:  # every other item in flight is lost with the pool: queue them again
                    queue.extend(in_flight.values())
                    in_flight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
        finally:
            pool.shutdown(wait=not in_flight, cancel_futures=True)


_WORKER: dict[str, Any] = {}


def _worker_init(task, threads) -> None:
    configure_threads(threads, environment=True)
    _WORKER["task"] = task
    _WORKER["threads"] = threads
    try:
        setup_task(task)
    except Exception as exc:  # noqa: BLE001 - reported on each item this worker is given
        _WORKER["setup_error"] = ItemError.from_exception(exc)


def _worker_run(item: BatchItem):
    if "setup_error" in _WORKER:
        return None, _WORKER["setup_error"]
    configure_threads(_WORKER["threads"])
    return run_item(_WORKER["task"], item)
