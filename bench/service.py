"""Benchmark of ``doppelab serve`` and ``doppelab batch`` on loopback.

1. **load**: ``--clients`` (>= 20) concurrent clients, each with its own API key, upload a 5 s
   clip, poll it once a second until done, and upload again, for ``--seconds``; then the queue
   drains. Reported: uploads accepted, checks finished per second, upload (POST) latency and
   check latency (upload to verdict) p50/p95, 5xx count, lost jobs (accepted ids not finished).
2. **kill -9**: the same load for ``--kill-seconds``; half-way the server gets SIGKILL and is
   started again on the same data folder. Every accepted id must end done or failed; the
   database is also checked for jobs whose 202 never reached a client.
3. **batch**: ``doppelab batch`` over ``--batch-files`` clips on local Ray with 1 and 2
   workers: files per second after start-up, and the start-up (ray.init + model loading).

The server runs as ``doppelab serve`` in a subprocess (process pool, ``--workers`` checks at
once). Usage: python bench/service.py [--clients 20] [--seconds 60] [--out
bench/results/service.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "doppelab", "serve", "--port", str(port), "--data-dir",
           str(data), "--workers", str(workers), "--log-level", "warning"]
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, env=ENV, stdout=fh, stderr=subprocess.STDOUT)
    t_end = time.monotonic() + 120
    while time.monotonic() < t_end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start; see {log}")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the pool's worker processes)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@dataclass
class Stats:
    """What the clients saw."""

    accepted: dict[str, float] = field(default_factory=dict)  # id -> time of the 202
    finished: dict[str, tuple[str, float]] = field(default_factory=dict)  # id -> (state, t)
    post_latency: list[float] = field(default_factory=list)
    check_latency: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0

    def count(self, code: int) -> None:
        self.statuses[code] = self.statuses.get(code, 0) + 1


async def _request(client: httpx.AsyncClient, stats: Stats, method: str, url: str,
                   **kw: Any) -> httpx.Response | None:
    try:
        r = await client.request(method, url, **kw)
    except httpx.HTTPError:
        stats.connection_errors += 1
        await asyncio.sleep(1.0)
        return None
    stats.count(r.status_code)
    return r


async def _wait(client: httpx.AsyncClient, stats: Stats, job: str, t0: float,
                deadline: float) -> None:
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        r = await _request(client, stats, "GET", f"/v1/checks/{job}")
        if r is not None and r.status_code == 200 and r.json()["status"] in ("done", "failed"):
            stats.finished[job] = (r.json()["status"], time.monotonic())
            stats.check_latency.append(time.monotonic() - t0)
            return
        if r is not None and r.status_code == 429:
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))


async def client_loop(base: str, key: str, clip: bytes, stats: Stats, stop_at: float,
                      deadline: float, once: bool = False) -> None:
    """Upload, wait for the verdict, repeat until ``stop_at``; waits at most to ``deadline``."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        while time.monotonic() < stop_at:
            t0 = time.monotonic()
            r = await _request(client, stats, "POST", "/v1/checks",
                               files={"file": ("clip.mp4", clip, "video/mp4")})
            if r is None or r.status_code != 202:
                await asyncio.sleep(1.0)
                continue
            stats.post_latency.append(time.monotonic() - t0)
            job = r.json()["id"]
            stats.accepted[job] = time.monotonic()
            await _wait(client, stats, job, t0, deadline)
            if once:
                return


def pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 3) if xs else None


def summarise(stats: Stats, seconds: float) -> dict[str, Any]:
    lost = [j for j in stats.accepted if j not in stats.finished]
    states = [s for s, _ in stats.finished.values()]
    return {
        "uploads_accepted": len(stats.accepted),
        "checks_finished": len(stats.finished),
        "checks_done": states.count("done"),
        "checks_failed": states.count("failed"),
        "checks_per_second": round(len(stats.finished) / seconds, 3),
        "post_latency_s": {"p50": pct(stats.post_latency, 50), "p95": pct(stats.post_latency, 95)},
        "check_latency_s": {"p50": pct(stats.check_latency, 50),
                            "p95": pct(stats.check_latency, 95)},
        "status_codes": {str(k): v for k, v in sorted(stats.statuses.items())},
        "server_errors_5xx": sum(v for k, v in stats.statuses.items() if k >= 500),
        "connection_errors": stats.connection_errors,
        "lost_jobs": len(lost),
    }


async def warm_up(base: str, key: str, clip: bytes, n: int) -> dict[str, Any]:
    """``n`` checks at once right after start-up (the first ones may wait for model loading);
    the load phase starts when they are done."""
    stats, t0 = Stats(), time.monotonic()
    await asyncio.gather(*(client_loop(base, key, clip, stats, t0 + 1e9, t0 + 600, once=True)
                           for _ in range(n)))
    return {"checks": len(stats.finished), "seconds": round(time.monotonic() - t0, 2),
            "status_codes": {str(k): v for k, v in stats.statuses.items()}}


def baseline(clip_path: Path) -> dict[str, Any]:
    """One check in this process (models loaded first), under the same machine load."""
    from doppelab.detect.predict import Detect, DetectConfig
    from doppelab.provenance.verify import verify

    det = Detect(DetectConfig(threads=1))
    det.run(clip_path)  # warm
    t0 = time.perf_counter()
    det.run(clip_path)
    t1 = time.perf_counter()
    verify(clip_path)
    t2 = time.perf_counter()
    return {"detect_s": round(t1 - t0, 2), "verify_s": round(t2 - t1, 2),
            "check_s": round(t2 - t0, 2), "load_average": os.getloadavg()}


async def load(base: str, keys: list[str], clip: bytes, seconds: float, drain: float,
               kill: Any = None) -> tuple[Stats, float]:
    stats = Stats()
    t0 = time.monotonic()
    stop_at, deadline = t0 + seconds, t0 + seconds + drain
    tasks = [asyncio.create_task(client_loop(base, k, clip, stats, stop_at, deadline))
             for k in keys]
    if kill is not None:
        await asyncio.sleep(seconds / 2)
        await asyncio.to_thread(kill)
    await asyncio.gather(*tasks)
    return stats, time.monotonic() - t0


def make_keys(data: Path, n: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from doppelab.service.store import Store

    store = Store(data)
    keys = [store.create_key(f"client-{i}")[1] for i in range(n)]
    store.close()
    return keys


def phase_load(work: Path, clip: bytes, args: argparse.Namespace) -> dict[str, Any]:
    data, port = work / "load", free_port()
    keys = make_keys(data, args.clients + 1)
    t0 = time.monotonic()
    proc = start_server(data, port, args.workers, work / "load.log")
    started = round(time.monotonic() - t0, 2)
    base = f"http://127.0.0.1:{port}"
    try:
        first = asyncio.run(warm_up(base, keys.pop(), clip, args.workers))
        stats, wall = asyncio.run(load(base, keys, clip, args.seconds, args.drain))
    finally:
        pool = children(proc.pid)
        proc.terminate()
        proc.wait(30)
        for pid in pool:
            with _quiet():
                os.kill(pid, signal.SIGKILL)
    return {**summarise(stats, wall), "window_s": args.seconds, "wall_s": round(wall, 1),
            "server_start_s": started, "first_checks_after_start_s": first}


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is ProcessLookupError


def phase_kill(work: Path, clip: bytes, args: argparse.Namespace) -> dict[str, Any]:
    data, port = work / "kill", free_port()
    keys = make_keys(data, args.clients)
    procs = [start_server(data, port, args.workers, work / "kill.log")]
    orphans: list[int] = []
    info: dict[str, Any] = {}

    def kill() -> None:
        orphans.extend(children(procs[0].pid))
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait()
        t = time.monotonic()
        procs.append(start_server(data, port, args.workers, work / "kill.log"))
        info["restart_s"] = round(time.monotonic() - t, 2)

    try:
        stats, wall = asyncio.run(load(f"http://127.0.0.1:{port}", keys, clip,
                                       args.kill_seconds, args.drain, kill))
    finally:
        orphans.extend(children(procs[-1].pid))
        procs[-1].terminate()
        procs[-1].wait(30)
        for pid in orphans:
            with _quiet():
                os.kill(pid, signal.SIGKILL)
    db = sqlite3.connect(data / "service.sqlite")
    rows = dict(db.execute("SELECT id, state FROM jobs").fetchall())
    retried = db.execute("SELECT COUNT(*) FROM jobs WHERE attempts > 1").fetchone()[0]
    unanswered = [j for j in rows if j not in stats.accepted]
    return {**summarise(stats, wall), **info, "window_s": args.kill_seconds,
            "jobs_in_database": len(rows), "retried_after_kill": retried,
            "accepted_missing_from_database": sum(j not in rows for j in stats.accepted),
            "stored_but_202_not_received": len(unanswered),
            "stored_not_finished": sum(s not in ("done", "failed") for s in rows.values())}


def phase_batch(work: Path, clip_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    folder = work / "batch-in"
    folder.mkdir(exist_ok=True)
    for i in range(args.batch_files):
        (folder / f"clip{i:02d}.mp4").write_bytes(clip_path.read_bytes())
    out: dict[str, Any] = {"files": args.batch_files}
    for workers in (1, 2):
        res = work / f"batch-{workers}.jsonl"
        t0 = time.perf_counter()
        cp = subprocess.run([sys.executable, "-m", "doppelab", "batch", str(folder), "-o",
                             str(res), "--workers", str(workers), "--json"], env=ENV,
                            capture_output=True, text=True, timeout=1800)
        if cp.returncode != 0:
            raise RuntimeError(cp.stderr[-2000:])
        summary = json.loads(cp.stdout.strip().splitlines()[-1])
        out[f"workers_{workers}"] = {
            "files_per_second": round(summary["files_per_second"], 3),
            "startup_s": summary["startup_seconds"], "processing_s": summary["seconds"],
            "ray_init_s": summary.get("ray_init_seconds"),
            "wall_s": round(time.perf_counter() - t0, 1), "errors": summary["errors"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--kill-seconds", type=float, default=40.0)
    ap.add_argument("--drain", type=float, default=300.0, help="most seconds to wait after")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-files", type=int, default=8)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: load,kill,batch")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/service.json")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    work = Path(tempfile.mkdtemp(prefix="doppelab-bench-service-"))
    from doppelab.demo import material

    clip_path = material.make_clip(material.astronaut_image(), work / "clip.mp4", seconds=5.0,
                                   size=256)  # the demo's moving portrait (public domain)
    clip = clip_path.read_bytes()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg(),
                    "niceness": os.nice(0),
                    "note": "2 shared CPU cores, other jobs running: numbers are pessimistic"},
        "clip": {"seconds": 5, "fps": 25, "size": 256, "bytes": len(clip)},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    for name, fn in (("baseline", lambda: baseline(clip_path)),
                     ("load", lambda: phase_load(work, clip, args)),
                     ("kill9", lambda: phase_kill(work, clip, args)),
                     ("batch", lambda: phase_batch(work, clip_path, args))):
        if name.rstrip("9") in skip or (name == "baseline" and "load" in skip):
            continue
        print(f"phase {name}...", file=sys.stderr, flush=True)
        result[name] = fn()
        print(json.dumps(result[name], indent=2), flush=True)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    if skip - {""} and args.out.exists():  # keep the skipped phases of the previous run
        previous = json.loads(args.out.read_text())
        result = {**{k: v for k, v in previous.items() if k not in result}, **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
