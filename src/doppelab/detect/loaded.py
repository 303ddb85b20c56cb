"""Detectors loaded once per worker process, for the pools that check many files.

Both pools use it: the service's process pool (:mod:`doppelab.service.worker`) and the batch
run's Ray actors (:mod:`doppelab.scale.batch`). A worker process first calls
:func:`cap_threads`, then borrows a loaded :class:`~doppelab.detect.predict.Detect` per check
with :func:`loaned` (models load on the first loan, or ahead of time with :func:`warm`, and are
kept for the next caller). Many workers share few cores, so each one computes on ``threads``
threads: torch and OpenCV are capped here, onnxruntime through ``DetectConfig.threads`` (the
blend detector's session; the speech and voice-activity sessions always use one thread).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from doppelab.core.errors import UsageError

if TYPE_CHECKING:  # the models load only in the worker processes, not where the pool is made
    from doppelab.detect.predict import Detect

__all__ = ["cap_threads", "loaned", "warm"]

_IDLE: dict[tuple[int, int], list[Detect]] = {}  # (frames, threads) -> loaded, idle Detects
_LOCK = threading.Lock()
_ENV_CAPS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cap_threads(threads: int = 1) -> None:
    """Make this process compute on ``threads`` threads (a pool initializer).

    Sets torch's intra-op and inter-op thread counts and OpenCV's, and the OpenMP / BLAS
    variables for libraries loaded later (those the caller's environment already sets are kept).

    Raises:
        UsageError: ``threads`` < 1.
    """
    if threads < 1:
        raise UsageError(f"threads must be >= 1 (got {threads})")
    for var in _ENV_CAPS:
        os.environ.setdefault(var, str(threads))
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    # inter-op threads can be set only before torch's first parallel work in this process
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)


@contextmanager
def loaned(frames: int, threads: int = 1) -> Iterator[Detect]:
    """A loaded Detect for this caller alone (Detect is not thread-safe), kept for reuse after.

    ``frames`` and ``threads`` are the DetectConfig fields; each pair has its own idle list.
    """
    key = (frames, threads)
    with _LOCK:
        idle = _IDLE.setdefault(key, [])
        det = idle.pop() if idle else None
    if det is None:
        from doppelab.detect.predict import Detect, DetectConfig

        det = Detect(DetectConfig(frames=frames, threads=threads))
    try:
        yield det
    finally:
        with _LOCK:
            _IDLE[key].append(det)


def warm(frames: int, threads: int = 1) -> bool:
    """Load the detectors now, so that the first check does not pay for it."""
    with loaned(frames, threads):
        return True
