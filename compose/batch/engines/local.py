"""The ``local`` engine: items run in this process, or in spawned worker processes."""

from __future__ import annotations

import os
from typing import Any

from compose.batch.engines import (
    Engine,
    configure_threads,
    current_threads,
    default_threads,
    die_with_parent,
    run_item_limited,
    setup_failed,
    setup_task,
    worker_died,
)
from compose.batch.items import BatchItem, ItemError
from compose.errors import UsageError


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
    item_timeout : float, optional
        Seconds an item may run (E607 past it); default no limit.

    Worker processes die with this one, however it ends (``PR_SET_PDEATHSIG`` on Linux), and are
    stopped at once when the run is interrupted (Ctrl-C, SIGTERM) rather than left to finish.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int | None = None, item_timeout: float | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise UsageError("E006", argument="workers", value=workers, expected="a whole number, 1 or more")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise UsageError("E006", argument="threads", value=threads, expected="a whole number, 1 or more")
        self.workers = workers
        self.threads = threads if threads is not None else default_threads(workers)
        self.item_timeout = item_timeout

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
            except Exception as exc:  # noqa: BLE001 - the runner stops the run with it
                yield items[0], None, setup_failed(exc)
                return
            for item in items:
                configure_threads(self.threads)
                output, error = run_item_limited(task, item, self.item_timeout)
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
                                       initializer=_worker_init,
                                       initargs=(task, self.threads, self.item_timeout, os.getpid()))

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
            if in_flight:  # interrupted, or the reader stopped early: stop the workers now
                _stop_workers(pool)
            pool.shutdown(wait=not in_flight, cancel_futures=True)


def _stop_workers(pool) -> None:
    # the executor has no "terminate": left alone, its workers finish their items first
    # (minutes with a diffusion model) and the interpreter waits for them at exit
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            process.terminate()
        except (OSError, AttributeError):
            pass
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            process.join(5)
        except (OSError, AttributeError, AssertionError):
            pass


_WORKER: dict[str, Any] = {}


def _worker_init(task, threads, item_timeout=None, parent=None) -> None:
    if parent is not None:
        die_with_parent(parent)
    configure_threads(threads, environment=True)
    _WORKER["task"] = task
    _WORKER["threads"] = threads
    _WORKER["item_timeout"] = item_timeout
    try:
        setup_task(task)
    except Exception as exc:  # noqa: BLE001 - reported on the first item; the runner stops the run
        _WORKER["setup_error"] = setup_failed(exc)


def _worker_run(item: BatchItem):
    if "setup_error" in _WORKER:
        return None, _WORKER["setup_error"]
    configure_threads(_WORKER["threads"])
    return run_item_limited(_WORKER["task"], item, _WORKER.get("item_timeout"))
