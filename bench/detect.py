"""Benchmark of ``doppelab detect`` on the shared data set's ``dev`` clips (unseen people).

For every ``dev`` clip: the real control (the clip re-encoded by our writer) and ``--variants``
self-blended pseudo-fake videos of it (:mod:`doppelab.detect.fakevideo`, different seeds). All
go through the same :class:`~doppelab.detect.predict.Detect` as ``doppelab detect`` (32 evenly
spaced frames, face crop with margin, all frames tracked for the temporal detector). Reported:

* ``video`` / ``frame``: AUC, EER, AP, accuracy at P=0.5 (fused, calibrated), per source;
* ``per_detector_video_auc``: the same video-level AUC from each detector's own mean score;
* ``speed``: end-to-end frames per second of ``detect`` on the 512x512 clips (all frames decoded
  and tracked, 32 scored; model loading excluded) and per-file seconds;
* ``face_level``: the recipe's face-level metrics (``weights/metrics.json``) when present.

Fakes of the creation stage: ``--swaps WORK/swaps`` evaluates the swaps that ``detect-train``
made of the designated pairs (``manifest.json``: mesh and autoencoder, both directions, two
post-processing variants) against the pairs' *marked* real controls (the same watermark and
encoder as the swaps, so the mark is no cue), per pair: pair-1 holds a held-out train identity
and was never trained on, pair-2 was; reported under ``swaps``. ``--swap-mesh`` makes
``doppelab swap --method mesh`` fakes of the designated swap pairs (lp_d18 <-> lp_d19,
lp_d3 <-> lp_d6; the only clips that may be swapped, all in ``train``, so these people are not
unseen) with their re-encoded, *unmarked* originals as reals (so the watermark differs between
the classes there: prefer ``--swaps``), keys in a throw-away ``DOPPELAB_HOME``;
``--labels LABELS.csv`` (path,label,source) evaluates any other set. Both are reported under
``extra`` per source.

Usage: python bench/detect.py [--data-dir ../shared/data] [--variants 2] [--limit N]
       [--swap-mesh] [--swaps WORK/swaps] [--labels extra.csv] [--out bench/results/detect.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.media import iter_frames, write_image
from doppelab.detect.data import list_items
from doppelab.detect.evaluate import Labelled, evaluate, read_labels
from doppelab.detect.fakevideo import write_video
from doppelab.detect.metrics import roc_auc
from doppelab.detect.predict import Detect, DetectConfig
from doppelab.detect.report import clean_json
from doppelab.detect.shipped import weights_dir
from doppelab.detect.swapfakes import directions


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


def make_mesh_set(data_dir: Path, work: Path) -> list[Labelled]:
    """Mesh-method swaps of the designated pairs (target <- source) and the re-encoded targets."""
    env = {**os.environ, "DOPPELAB_HOME": str(work / "home")}
    exe = [sys.executable, "-m", "doppelab"]
    if not (work / "home" / "keys").exists():
        subprocess.run([*exe, "keys", "init"], env=env, check=True, capture_output=True)
    rows: list[Labelled] = []
    for _pair, target, source, _side in directions():  # both ways of each designated pair
        t, s = data_dir / "clips" / f"{target}.mp4", data_dir / "clips" / f"{source}.mp4"
        real, fake = work / f"{target}_real.mp4", work / f"{target}_mesh_from_{source}.mp4"
        if not real.exists():
            write_video(t, real, seed=None)
        photo = work / f"{source}_frame.png"
        if not photo.exists():  # the mesh method takes a photo (or FaceSet) as its source
            frames = iter_frames(s)
            write_image(photo, next(frames).image)
        if not fake.exists():
            cmd = [*exe, "swap", "--method", "mesh", "--source", str(photo), str(t)]
            cmd += ["-o", str(fake)]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        if Labelled(path=real, label=0, source="real") not in rows:
            rows.append(Labelled(path=real, label=0, source="real"))
        rows.append(Labelled(path=fake, label=1, source="mesh"))
    return rows


def swap_sets(folder: Path) -> dict[str, list[Labelled]]:
    """The swap manifest's videos grouped by pair (its marked reals and its swaps)."""
    from doppelab.detect.swapfakes import PAIRS, pair_held_out, read_manifest

    out: dict[str, list[Labelled]] = {}
    for v in read_manifest(folder).videos:
        pair = next(k for k, p in PAIRS.items() if v.target in p)
        key = f"{pair} ({'held out' if pair_held_out(v.target) else 'trained on'})"
        src = "real (marked)" if v.label == 0 else v.method
        out.setdefault(key, []).append(Labelled(path=folder / v.path, label=v.label, source=src))
    return out


def per_detector(results: list[tuple[Labelled, Any]]) -> dict[str, float]:
    """Video AUC of each detector alone, from its mean raw logit over the video's faces (a mean
    of probabilities saturates at 1.0 for a large-logit network and turns ranks into ties)."""
    names = sorted({n for _, r in results for n in r.detector_logits})
    out = {}
    for n in names:
        rows = [(x.label, r.detector_logits[n]) for x, r in results if n in r.detector_logits]
        out[n] = roc_auc([a for a, _ in rows], [b for _, b in rows]) if rows else float("nan")
    return out


def speed(results: list[tuple[Labelled, Any]]) -> dict[str, Any]:
    sq = [r for _, r in results if r.width == 512 and r.height == 512]
    frames = sum(r.frames_total for r in sq)
    secs = sum(r.seconds for r in sq)
    return {
        "files_512": len(sq),
        "frames": frames,
        "seconds": round(secs, 2),
        "fps_end_to_end": round(frames / secs, 2) if secs else None,
        "scored_frames_per_second": round(sum(r.frames_sampled for r in sq) / secs, 2)
        if secs
        else None,
    }


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--work", type=Path, default=None, help="folder for the generated videos")
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--labels", type=Path, default=None, help="extra LABELS.csv to evaluate")
    ap.add_argument("--swap-mesh", action="store_true", help="also mesh swaps of the pairs")
    ap.add_argument("--swaps", type=Path, default=None, help="detect-train's swaps/ folder")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect.json"))
    return ap.parse_args()


def file_rows(results: list[tuple[Labelled, Any]]) -> list[dict[str, Any]]:
    """One JSON row per scored file (shared with bench/detect_robust.py)."""
    return [
        {
            "path": x.path.name,
            "label": x.label,
            "source": x.source,
            "probability": r.probability,
            "verdict": r.verdict,
            "reason": r.reason,
            "detectors": r.detectors,
            "detector_logits": r.detector_logits,
            "temporal": r.temporal,
            "seconds": round(r.seconds, 2),
        }
        for x, r in results
    ]


def main() -> int:
    args = _args()
    work = args.work or Path(tempfile.mkdtemp(prefix="doppelab-bench-detect-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = make_set(args.data_dir, work, args.variants, args.limit)
    print(
        f"generated {len(rows)} videos in {time.perf_counter() - t0:.0f} s -> {work}",
        file=sys.stderr,
    )
    det = Detect(DetectConfig())
    metrics, results = evaluate(rows, det)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "cores": os.cpu_count(),
        },
        "dev_self_blend": metrics,
        "per_detector_video_auc": per_detector(results),
        "speed": speed(results),
        "files": file_rows(results),
    }
    extra = read_labels(args.labels) if args.labels else []
    if args.swap_mesh:
        try:
            extra += make_mesh_set(args.data_dir, work)
        except (subprocess.CalledProcessError, OSError) as exc:  # creation stage not usable
            err = getattr(exc, "stderr", b"") or b""
            report["swap_mesh_error"] = f"{exc}: {err.decode(errors='replace')[-400:]}"
    if extra:
        report["extra"], res_extra = evaluate(extra, det)
        report["extra"]["per_detector_video_auc"] = per_detector(res_extra)
        report["extra"]["files"] = file_rows(res_extra)
    if args.swaps:
        report["swaps"] = {}
        for key, rows_k in swap_sets(args.swaps).items():
            m_k, res_k = evaluate(rows_k, det)
            report["swaps"][key] = {
                "video": m_k["video"],
                "per_detector_video_auc": per_detector(res_k),
                "files": file_rows(res_k),
            }
    card = weights_dir() / "metrics.json"
    if card.exists():
        report["face_level"] = json.loads(card.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(clean_json(report), indent=2, default=str) + "\n")
    v = metrics.get("video", {}).get("all", {})
    summary = {
        "video_auc": v.get("auc"),
        "per_detector": report["per_detector_video_auc"],
        "speed": report["speed"],
        "swaps": {k: v["video"]["all"].get("auc") for k, v in report.get("swaps", {}).items()},
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
