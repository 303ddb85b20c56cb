"""Benchmark of ``doppelab detect`` on the shared data set's ``dev`` clips (people never trained on).

For every ``dev`` clip: the real control (the clip re-encoded by our writer) and ``--variants``
self-blended pseudo-fake videos of it (:mod:`doppelab.detect.fakevideo`, different seeds). All
go through the same :class:`~doppelab.detect.predict.Detect` as ``doppelab detect`` (32 evenly
spaced frames, face crop with margin, all frames tracked for the temporal detector). Reported:

* ``video`` / ``frame``: AUC, EER, AP, accuracy at P=0.5 (fused, calibrated), per source;
* ``per_detector_video_auc``: the same video-level AUC from each detector's own mean score;
* ``speed``: end-to-end frames per second of ``detect`` on the 512x512 clips (all frames decoded
  and tracked, 32 scored; model loading excluded) and per-file seconds;
* ``face_level``: the recipe's face-level metrics (``weights/metrics.json``) when present.

Fakes of the creation stage: ``--labels LABELS.csv`` (path,label,source; e.g. made with
``doppelab swap`` on the designated pairs) is evaluated the same way and reported per source.

Usage: python bench/detect.py [--data-dir ../shared/data] [--variants 2] [--limit N]
       [--labels extra.csv] [--out bench/results/detect.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.detect.data import list_items
from doppelab.detect.evaluate import Labelled, evaluate, read_labels
from doppelab.detect.fakevideo import write_video
from doppelab.detect.metrics import roc_auc
from doppelab.detect.predict import Detect, DetectConfig
from doppelab.detect.shipped import weights_dir


def make_set(data_dir: Path, work: Path, variants: int, limit: int | None) -> list[Labelled]:
    clips = [i for i in list_items(data_dir, "dev") if i.kind == "clip"][:limit]
    rows: list[Labelled] = []
    for item in clips:
        stem = item.path.stem
        real = work / f"{stem}_real.mp4"
        if not real.exists():
            write_video(item.path, real, seed=None)
        rows.append(Labelled(path=real, label=0, source="real"))
        for v in range(variants):
            fake = work / f"{stem}_sbi{v}.mp4"
            if not fake.exists():
                write_video(item.path, fake, seed=1000 + v)
            rows.append(Labelled(path=fake, label=1, source="self-blend"))
    with open(work / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "source"])
        w.writerows([[r.path.name, r.label, r.source] for r in rows])
    return rows


def per_detector(results: list[tuple[Labelled, Any]]) -> dict[str, float]:
    names = sorted({n for _, r in results for n in r.detectors})
    out = {}
    for n in names:
        rows = [(x.label, r.detectors[n]) for x, r in results if r.detectors.get(n) is not None]
        out[n] = roc_auc([a for a, _ in rows], [b for _, b in rows]) if rows else float("nan")
    return out


def speed(results: list[tuple[Labelled, Any]]) -> dict[str, Any]:
    sq = [r for _, r in results if r.width == 512 and r.height == 512]
    frames = sum(r.frames_total for r in sq)
    secs = sum(r.seconds for r in sq)
    return {"files_512": len(sq), "frames": frames, "seconds": round(secs, 2),
            "fps_end_to_end": round(frames / secs, 2) if secs else None,
            "scored_frames_per_second": round(sum(r.frames_sampled for r in sq) / secs, 2)
            if secs else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--work", type=Path, default=None, help="folder for the generated videos")
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--labels", type=Path, default=None, help="extra LABELS.csv to evaluate")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect.json"))
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="doppelab-bench-detect-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = make_set(args.data_dir, work, args.variants, args.limit)
    print(f"generated {len(rows)} videos in {time.perf_counter() - t0:.0f} s -> {work}",
          file=sys.stderr)
    det = Detect(DetectConfig())
    metrics, results = evaluate(rows, det)
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "dev_self_blend": metrics,
        "per_detector_video_auc": per_detector(results),
        "speed": speed(results),
        "files": [{"path": x.path.name, "label": x.label, "probability": r.probability,
                   "verdict": r.verdict, "detectors": r.detectors,
                   "seconds": round(r.seconds, 2)} for x, r in results],
    }
    if args.labels:
        report["extra"], _ = evaluate(read_labels(args.labels), det)
    card = weights_dir() / "metrics.json"
    if card.exists():
        report["face_level"] = json.loads(card.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=lambda o: None if o != o else o)
    args.out.write_text(text + "\n")
    v = metrics.get("video", {}).get("all", {})
    print(json.dumps({"video_auc": v.get("auc"), "per_detector": report["per_detector_video_auc"],
                      "speed": report["speed"]}, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
