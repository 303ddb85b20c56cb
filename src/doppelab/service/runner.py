"""The bounded worker pool and the dispatcher that feeds it from the job table.

At most ``workers`` checks run at once; each runs detect, then verify, as two calls into the
pool (the job's ``stage`` tells a client which). The pool is a process pool (spawned, so
MediaPipe's threads never meet ``fork``) or, for tests, a thread pool. A worker process that
dies takes only its check down: the pool is rebuilt and the check fails with a reason.
A retention sweep deletes uploads, reports and rows of checks older than the retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from doppelab.detect.loaded import cap_threads, warm
from doppelab.service import worker
from doppelab.service.store import Job, Store
from doppelab.service.upload import remove_quietly

_log = logging.getLogger("doppelab.service")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerConfig:
    """Pool and housekeeping settings."""

    workers: int = 2
    pool: str = "process"  # or "thread"
    frames: int = 32  # frames detect samples per video
    retention_s: float = 24 * 3600.0
    sweep_every_s: float = 60.0


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        _log.error("warming a worker failed: %s", fut.exception())


def init_worker() -> None:
    """Pool initializer: one compute thread, and Ctrl-C left to the server.

    A terminal's Ctrl-C reaches the whole process group; a worker that took it would die with a
    ``KeyboardInterrupt`` traceback on the server's stderr. The server stops its workers itself
    (:meth:`Dispatcher.stop`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cap_threads()


def make_executor(cfg: RunnerConfig) -> Executor:
    if cfg.pool == "thread":
        return ThreadPoolExecutor(cfg.workers, thread_name_prefix="doppelab-check")
    return ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker)


class Dispatcher:
    """Claims queued jobs and runs them on the pool; persists every transition in the store."""

    def __init__(self, store: Store, cfg: RunnerConfig) -> None:
        self.store, self.cfg = store, cfg
        self.executor = make_executor(cfg)
        self.wake = asyncio.Event()
        self.active: set[asyncio.Task[None]] = set()
        self.running: set[str] = set()
        self._stopping = False

    async def run(self) -> None:
        """Main loop: fill free slots, then sleep until woken (new job) or one second."""
        loop = asyncio.get_running_loop()
        for _ in range(self.cfg.workers):  # load the models in every worker at start-up
            fut = loop.run_in_executor(self.executor, warm, self.cfg.frames)
            fut.add_done_callback(_log_failure)
        while not self._stopping:
            while len(self.active) < self.cfg.workers:
                job = self.store.claim_next()
                if job is None:
                    break
                task = asyncio.create_task(self._process(job))
                self.active.add(task)
                task.add_done_callback(self._done)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.active.discard(task)
        self.wake.set()

    async def _call(self, fn: Any, *args: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, fn, *args)
        except BrokenProcessPool:
            _log.error("a worker process died; rebuilding the pool")
            old, self.executor = self.executor, make_executor(self.cfg)
            old.shutdown(wait=False, cancel_futures=True)
            return {"error": "the worker processing this file crashed"}

    async def _process(self, job: Job) -> None:
        self.running.add(job.id)
        try:
            await self._work(job)
        finally:
            self.running.discard(job.id)

    async def _work(self, job: Job) -> None:
        upload = str(self.store.uploads / job.upload)
        report = str(self.store.report_path(job.id))
        error: str | None = None
        result: dict[str, Any] | None = None
        try:
            self.store.set_stage(job.id, "detect")
            got = await self._call(worker.run_detect, upload, job.filename, report,
                                   self.cfg.frames)
            if "error" not in got:
                self.store.set_stage(job.id, "verify")
                ver = await self._call(worker.run_verify, upload, job.filename)
                got = {**got, **ver} if "error" not in ver else ver
            error = got.get("error")
            result = None if error else got
        except asyncio.CancelledError:
            return  # shutting down: stop() puts it back in the queue
        except Exception:
            _log.exception("check %s failed unexpectedly", job.id)
            error = "internal error while processing this file"
        if not self.store.finish(job.id, result=result, error=error):
            remove_quietly(report)  # deleted while it ran

    def sweep(self) -> int:
        """Delete checks (upload, report, row) older than the retention period."""
        cutoff = time.time() - self.cfg.retention_s
        n = 0
        for job in self.store.expired(cutoff):
            self.store.forget(job)
            n += 1
        self._sweep_strays(time.time() - 3600)
        return n

    def _sweep_strays(self, older_than: float) -> None:
        """Files no job owns (a crash between saving an upload and recording its job, an
        upload cut off mid-stream), once they are an hour old."""
        uploads, ids = self.store.known_files()
        strays = [p for p in self.store.uploads.iterdir() if p.name not in uploads]
        strays += [p for p in self.store.reports.iterdir() if p.stem not in ids]
        for path in strays:
            try:
                if path.stat().st_mtime < older_than:
                    remove_quietly(path)
            except OSError:
                pass

    async def sweeper(self) -> None:
        while not self._stopping:
            try:
                removed = self.sweep()
                if removed:
                    _log.info("retention: removed %d checks", removed)
            except Exception:
                _log.exception("retention sweep failed")
            await asyncio.sleep(self.cfg.sweep_every_s)

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        for job_id in list(self.running):
            self.store.requeue(job_id)
        for task in list(self.active):
            task.cancel()
        # running checks are requeued: end their processes now rather than wait for them
        procs = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
