"""Speed of ``doppelab detect`` on 512x512 video: the default sampling and every frame scored.

``bench/detect.py`` reports frames per second with its default of 32 scored frames per video
(every frame decoded and tracked for the temporal detector). Real-time *per-frame* analysis means
scoring every frame, so this bench runs :class:`~doppelab.detect.predict.Detect` on the same
512x512 bench videos (``--bench-dir``, made by ``bench/detect.py --work``) in two modes:

* ``sampled``: ``--frames 32`` as shipped;
* ``every_frame``: every frame's faces cropped and scored by every face detector;

both with the face detectors and the temporal detector (the bench videos carry no audio; the
speech and AV-sync costs are in ``bench/audio.py`` and ``bench/avsync.py``). Models are loaded
and warmed on the first file before timing; the load average is recorded, since the machine is
shared. Reported: files, frames, seconds, frames per second (all frames / wall time) and scored
faces per second.

Usage: python bench/detect_speed.py --bench-dir WORK/bench [--limit 9]
       [--out bench/results/detect_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from doppelab.core.media import probe
from doppelab.core.storage import atomic_write_text
from doppelab.detect.predict import Detect, DetectConfig

FACE = ("blend", "frequency", "temporal")
EVERY = 1_000_000  # more frames than any bench video: sample_indices then takes all


def _videos(bench: Path, limit: int) -> list[Path]:
    out = []
    for p in sorted(bench.glob("*.mp4")):
        info = probe(p)
        if info.width == 512 and info.height == 512:
            out.append(p)
    return out[:limit]


def run_mode(videos: list[Path], frames: int, detectors: tuple[str, ...]) -> dict[str, Any]:
    det = Detect(DetectConfig(frames=frames, detectors=detectors))
    det.run(videos[0])  # load and warm every model outside the timing
    total = scored = 0
    t0 = time.perf_counter()
    for v in videos:
        res = det.run(v)
        total += res.frames_total
        scored += sum(1 for f in res.faces if f.usable)
    secs = time.perf_counter() - t0
    return {"files": len(videos), "frames": total, "seconds": round(secs, 2),
            "fps": round(total / secs, 1), "scored_faces_per_second": round(scored / secs, 1),
            "scored_faces": scored}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bench-dir", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=9, help="512x512 videos to time (default 9)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect_speed.json"))
    args = ap.parse_args()
    videos = _videos(args.bench_dir, args.limit)
    if not videos:
        raise SystemExit(f"no 512x512 .mp4 in {args.bench_dir}")
    result: dict[str, Any] = {"cores": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]}
    for mode, frames in (("sampled", 32), ("every_frame", EVERY)):
        result[mode] = r = run_mode(videos, frames, FACE)
        print(mode, json.dumps(r), flush=True)
    result["load_avg_1min_after"] = os.getloadavg()[0]
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
