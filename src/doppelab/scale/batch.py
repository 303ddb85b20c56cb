"""``doppelab batch``: detect (face extraction, scoring) + verify over many files on Ray.

Local by default (``ray.init`` starts a private cluster with ``workers`` CPUs); ``address``
joins an existing cluster (its nodes need doppelab installed). Each worker is a Ray actor that
caps its compute threads and loads the detectors once (:mod:`doppelab.detect.loaded`, as the
service's workers do) and checks one file per call; results stream back in completion order
into the journal (see :mod:`doppelab.scale.results`), so a re-run skips every finished file.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doppelab.core.errors import DoppelabError, FileAccessError, InputError, UsageError
from doppelab.core.media import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from doppelab.core.storage import utf8_safe
from doppelab.detect.loaded import cap_threads, loaned, warm
from doppelab.scale.results import Journal, check_output, done_rows, finalize

# audio files get detect's speech verdict; verify reads images and videos only
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES
AUDIO_SUMMARY = ("audio file: speech checked; provenance not checked (verify reads images and "
                 "videos)")


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSummary:
    """What a run did."""

    output: str
    total: int
    skipped: int  # already done before this run
    processed: int
    errors: int
    seconds: float  # processing, after the cluster started
    startup_seconds: float  # ray.init + loading the detectors in every worker
    ray_init_seconds: float = 0.0  # of which ray.init alone

    @property
    def files_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def list_inputs(source: Path) -> list[Path]:
    """Media files under a folder (recursive, by suffix) or listed in a CSV (``path`` column,
    else the first; relative paths are relative to the CSV; duplicates once).

    Raises:
        FileAccessError: no such folder or file, or the CSV cannot be read.
        InputError: the CSV is not UTF-8.
        UsageError: neither a folder nor a ``.csv`` file.
    """
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.is_file()
                      and p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith("."))
    if not source.is_file():
        raise FileAccessError(f"no such folder or CSV file: {source}")
    if source.suffix.lower() != ".csv":
        raise UsageError(f"{source}: give a folder or a .csv list of paths")
    try:
        with open(source, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not a UTF-8 CSV file (byte {exc.start}: "
                         f"{exc.reason})") from None
    except (OSError, csv.Error) as exc:
        raise FileAccessError(f"cannot read {source}: {exc}") from None
    if not rows:
        return []
    col = rows[0].index("path") if "path" in rows[0] else 0
    body = rows[1:] if "path" in rows[0] else rows
    paths = [Path(r[col].strip()) for r in body if len(r) > col and r[col].strip()]
    # a path listed twice is checked once (one row per file in the results)
    return list(dict.fromkeys(p if p.is_absolute() else source.parent / p for p in paths))


def check_file(det: Any, path: str) -> dict[str, Any]:
    """One row: detect + verify of ``path`` (errors become a row with ``status = error``); an
    audio file gets detect's speech verdict and no provenance layers (verify reads images and
    videos; doppelab creates no audio)."""
    from doppelab.provenance.verify import verify

    t0 = time.perf_counter()
    row: dict[str, Any] = {"path": path, "status": "ok"}
    try:
        res = det.run(path)
        if res.kind == "audio":
            return {**row, **_detected(res), "summary": AUDIO_SUMMARY,
                    "seconds": time.perf_counter() - t0}
        ver = verify(path)
    except DoppelabError as exc:
        return {**row, "status": "error", "error": str(exc),
                "seconds": time.perf_counter() - t0}
    except Exception as exc:  # a bug on one file must not end a long batch: record it
        return {**row, "status": "error", "error": f"internal error: {type(exc).__name__}: "
                f"{exc}", "seconds": time.perf_counter() - t0}
    row.update(
        **_detected(res),
        provenance_found=ver.provenance_found, manifest=ver.manifest.state,
        watermark_found=ver.watermark.found,
        watermark_payload=None if ver.watermark.payload_id is None
        else f"{ver.watermark.payload_id:08x}",
        registry_matched=ver.registry.matched, summary=ver.summary,
        seconds=time.perf_counter() - t0,
    )
    return row


def _detected(res: Any) -> dict[str, Any]:
    """The columns of a row that come from detect's result ``res``."""
    return {"kind": res.kind, "verdict": res.verdict, "reason": res.reason,
            "caveats": "; ".join(res.caveats) or None, "probability": res.probability,
            "detectors": json.dumps(res.detectors), "frames_total": res.frames_total,
            "frames_sampled": res.frames_sampled, "faces": len(res.faces)}


class Checker:
    """The Ray actor body: one compute thread, loaded detectors, one file per :meth:`check`."""

    def __init__(self, frames: int) -> None:
        cap_threads(1)
        warm(frames)
        self.frames = frames

    def ready(self) -> bool:
        return True

    def check(self, path: str) -> dict[str, Any]:
        with loaned(self.frames) as det:
            return check_file(det, path)


def _start_ray(address: str | None, workers: int) -> Any:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return ray
    # local workers must import this doppelab (it may be a checkout on PYTHONPATH)
    src = str(Path(__file__).resolve().parents[2])
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *[p for p in parts if p != src]])
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    return ray


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _interrupt_on_sigterm() -> Any:
    """Make SIGTERM stop the run like Ctrl-C (``KeyboardInterrupt``: finished rows kept, Ray
    shut down, the CLI says "interrupted" and exits 130); ``ray.init`` installs a handler that
    exits with status 15 instead. Returns the handler to restore (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _run_pool(ray: Any, todo: list[str], workers: int, frames: int) -> Iterator[dict[str, Any]]:
    from ray.util import ActorPool

    actor = ray.remote(num_cpus=1)(Checker)
    actors = [actor.remote(frames) for _ in range(workers)]
    ray.get([a.ready.remote() for a in actors])
    yield {"_ready": True}
    pool = ActorPool(actors)
    yield from pool.map_unordered(lambda a, p: a.check.remote(p), todo)


def run_batch(source: Path, out: Path, *, workers: int = 2, address: str | None = None,
              frames: int = 32, progress: Callable[[int, int], Any] | None = None
              ) -> BatchSummary:
    """Check every file of ``source`` not yet in ``out``; see the module docstring.

    ``progress(done, total)`` is called after each file (the CLI draws its bar with it).
    """
    check_output(out)
    if workers < 1 or frames < 1:
        raise UsageError("workers and frames must be >= 1")
    files = [str(p) for p in list_inputs(source)]
    done = {utf8_safe(r["path"]): r for r in done_rows(out)}  # Parquet keeps names as UTF-8
    todo = [p for p in files if utf8_safe(p) not in done]
    t_start = time.perf_counter()
    processed = errors = 0
    startup = ray_init = 0.0
    t0 = t_start
    if todo:
        ray = _start_ray(address, workers)
        ray_init = time.perf_counter() - t_start
        previous = _interrupt_on_sigterm()
        journal = Journal(out)
        try:
            for row in _run_pool(ray, todo, min(workers, len(todo)), frames):
                if "_ready" in row:
                    startup, t0 = time.perf_counter() - t_start, time.perf_counter()
                    continue
                journal.add(row)
                done[utf8_safe(row["path"])] = row
                processed += 1
                errors += row["status"] != "ok"
                if progress is not None:
                    progress(processed, len(todo))
        finally:
            journal.close()
            ray.shutdown()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    seconds = time.perf_counter() - t0
    finalize(out, [done[p] for p in sorted(done)])
    return BatchSummary(output=str(out), total=len(files), skipped=len(files) - len(todo),
                        processed=processed, errors=errors, seconds=round(seconds, 3),
                        startup_seconds=round(startup, 3), ray_init_seconds=round(ray_init, 3))
