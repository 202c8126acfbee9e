"""Run a CPU-bound library call in a worker process under a hard wall-clock cap.

Some extractors (trafilatura/lxml on pathological pages) can run for minutes and cannot be
interrupted from a thread. They run in a one-worker process pool; when a call exceeds its cap the
worker is killed and the pool replaced, so one bad page costs at most the cap.

The cap covers the call only: callers queue on a semaphore *before* submitting (so waiting for
the worker is never counted), and a fresh worker imports the function's module in an uncapped
warm-up first (process start and imports take a second or two and are not the page's fault).
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

R = TypeVar("R")

# spawn, not fork: the caller may hold threads (DB pools, HTTP clients) whose locks a forked
# child would inherit in a locked state.
_CONTEXT = multiprocessing.get_context("spawn")
WARMUP_TIMEOUT_S = 120.0
PARENT_CHECK_S = 1.0


class HardCapExceeded(Exception):
    """The call did not finish within its cap; its worker was killed."""


def _import(module: str) -> None:
    importlib.import_module(module)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end the worker when its parent is gone. A worker holds both ends of
    its call queue's pipe, so a parent killed with SIGKILL (how operators stop a stuck sweep)
    never gives it EOF: without this every `kill -9` would leave a worker behind."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _CappedPool:
    def __init__(self) -> None:
        self._turn = threading.Semaphore(1)  # one call at a time: the one worker is never shared
        self._executor: ProcessPoolExecutor | None = None
        self._warm: set[str] = set()

    def _ready(self, module: str) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=_CONTEXT,
                                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
            self._warm = set()
        if module not in self._warm:
            try:
                self._executor.submit(_import, module).result(timeout=WARMUP_TIMEOUT_S)
            except FutureTimeout as exc:
                self._discard()
                raise HardCapExceeded(f"worker did not start within {WARMUP_TIMEOUT_S:.0f}s") from exc
            except BrokenProcessPool:
                self._discard()
                raise
            self._warm.add(module)
        return self._executor

    def _discard(self) -> None:
        """Kill the worker (a hung call never returns on its own) and forget the pool."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor has no public "terminate"; its workers are only reachable through
        # `_processes`, and without killing them a hung call would pin a CPU until exit.
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def run(self, fn: Callable[..., R], args: tuple[Any, ...], timeout_s: float) -> R:
        with self._turn:
            executor = self._ready(fn.__module__)
            future = executor.submit(fn, *args)
            try:
                return future.result(timeout=timeout_s)
            except FutureTimeout as exc:
                self._discard()
                raise HardCapExceeded(f"{fn.__name__} exceeded {timeout_s:.2f}s") from exc
            except BrokenProcessPool:
                self._discard()
                raise

    def close(self) -> None:
        with self._turn:
            self._discard()


_POOL = _CappedPool()
atexit.register(_POOL.close)


def run_capped(fn: Callable[..., R], *args: Any, timeout_s: float) -> R:
    """`fn(*args)` in the worker process; raises HardCapExceeded after `timeout_s` seconds.

    `fn` must be a module-level function and its arguments picklable. Exceptions raised by `fn`
    propagate; a worker that dies (e.g. out of memory) raises BrokenProcessPool.
    """
    return _POOL.run(fn, args, timeout_s)
