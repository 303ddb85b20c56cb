"""Robustness of ``doppelab detect`` to compression and size: the bench videos re-encoded.

The videos of ``bench/detect.py`` (the real controls and self-blended fakes of the ``dev`` clips,
``--bench-dir`` with its ``labels.csv``; and, with ``--swaps``, the swap videos of
``detect-train`` against their pairs' marked reals) are copied under each *condition* and every
copy goes through the same :class:`~doppelab.detect.predict.Detect` as ``bench/detect.py`` (the
models loaded once; 32 frames; default detectors). A condition is a chain of steps joined by
``_``, applied to the decoded frames left to right:

* ``crfN``: H.264 (libx264, preset ``medium`` as FFmpeg's default, yuv420p) at CRF ``N``,
  written and decoded again; the audio track, if any, is stream-copied;
* ``sN``: resize so that the shorter side is ``N`` px (area filter; never enlarges; even sizes);
* ``up``: resize back to the original video's size (bicubic): a small video enlarged.

``orig`` is the files as they are (the reference: it must reproduce ``bench/detect.py``).
E.g. ``crf40`` = re-encoded at CRF 40; ``s256_crf23`` = shorter side 256 px written at CRF 23;
``s256_crf23_up_crf23`` = that file enlarged to the original size and written at CRF 23 again.
Every encoded prefix is cached under ``--work/<prefix>/`` (``s256_crf23`` is shared with
``s256_crf23_up_crf23``), so a rerun only detects. The default runs all 12 conditions of
``bench/results/detect_robust.json``; on 2 shared cores the bench set takes 3-5 minutes per
condition, pair-1 2-6, pair-2 (6,810 frames) 5-10, so the committed file has pair-2 for
``orig,crf23,crf40,s256_crf40`` only (``--sets pair-2 --conditions ...``).

Reported per condition and set (``bench``; ``pair-1 (held out)``, ``pair-2 (trained on)``): video
AUC, EER, AP, accuracy at P = 0.5, false alarms (reals with P >= 0.5) and misses (fakes with
P < 0.5), the verdicts (reals called ``likely fake``, fakes called ``likely real``, inconclusive),
frame AUC, the per-detector video AUC (each detector's mean raw logit, as ``bench/detect.py``),
the mean per-detector logit of reals and fakes (calibration drift), the share of sampled faces
that were usable, the median face width in pixels, the mean output bit rate and the seconds.
Under ``mixed``: per condition, the video AUC of its reals against the original fakes and of
the original reals against its fakes (what a set of mixed qualities would see).

Usage: python bench/detect_robust.py --bench-dir WORK/bench [--swaps WORK/swaps]
       [--work /tmp/robust] [--conditions orig,crf40,s256_crf40,...] [--sets bench,pair-1,pair-2]
       [--out bench/results/detect_robust.json]

An existing ``--out`` is updated: the conditions and sets of this run replace theirs, the rest
is kept (so the swaps can be added by a second run with ``--sets pair-1,pair-2``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect import file_rows, per_detector, swap_sets
from doppelab.core.media import iter_frames, probe
from doppelab.core.media_write import VideoWriter
from doppelab.core.storage import atomic_write_text
from doppelab.detect.evaluate import Labelled, evaluate, read_labels
from doppelab.detect.metrics import auc_real_vs_fake
from doppelab.detect.predict import Detect, DetectConfig, MediaResult
from doppelab.detect.report import clean_json

DEFAULT = ("orig,crf23,crf28,crf35,crf40,s256_crf23,s256_crf28,s256_crf35,s256_crf40,"
           "s256_crf23_up_crf23,s128_crf23,s128_crf23_up_crf23")
STEP = re.compile(r"^(crf\d+|s\d+|up)$")
PRESET = "medium"


def parse(condition: str) -> list[str]:
    """The steps of a condition (see module doc); ``orig`` has none."""
    if condition == "orig":
        return []
    steps = condition.split("_")
    if not all(STEP.match(s) for s in steps) or not steps[-1].startswith("crf"):
        raise SystemExit(f"bad condition {condition!r}: steps crfN, sN, up; the last one crfN")
    return steps


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _size(w: int, h: int, step: str, orig: tuple[int, int]) -> tuple[int, int]:
    if step == "up":
        return orig
    short = int(step[1:])
    if min(w, h) <= short:
        return w, h
    k = short / min(w, h)
    return _even(w * k), _even(h * k)


def encode(src: Path, dst: Path, resizes: list[str], crf: int, orig: tuple[int, int]) -> None:
    """``src`` with the ``resizes`` applied, written as H.264 at ``crf`` to ``dst``."""
    info = probe(src)
    w, h = info.width, info.height
    for r in resizes:
        w, h = _size(w, h, r, orig)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(dst, fps=info.fps or 25.0, width=w, height=h, crf=crf, preset=PRESET,
                     audio_from=src) as out:
        for frame in iter_frames(src):
            img = frame.image
            if img.shape[1] != w or img.shape[0] != h:
                how = cv2.INTER_CUBIC if w > img.shape[1] else cv2.INTER_AREA
                img = np.asarray(cv2.resize(img, (w, h), interpolation=how), np.uint8)
            out.write(np.ascontiguousarray(img), frame.ref.timestamp)


def make_copy(src: Path, condition: str, work: Path, group: str) -> Path:
    """The file ``src`` under ``condition`` (cached: every encoded prefix is kept)."""
    steps = parse(condition)
    if not steps:
        return src
    info = probe(src)
    orig = (info.width, info.height)
    cur, pending, done = src, [], []
    for step in steps:
        done.append(step)
        if not step.startswith("crf"):
            pending.append(step)
            continue
        dst = work / "_".join(done) / group / f"{src.stem}.mp4"
        if not dst.exists():
            encode(cur, dst, pending, int(step[3:]), orig)
        cur, pending = dst, []
    return cur


def _bitrate(paths: list[Path]) -> float | None:
    kbps = []
    for p in paths:
        info = probe(p)
        if info.duration:
            kbps.append(p.stat().st_size * 8 / 1000 / info.duration)
    return round(float(np.mean(kbps)), 1) if kbps else None


def summarise(metrics: dict[str, Any], results: list[tuple[Labelled, MediaResult]]) -> dict:
    """One condition's numbers on one set (see module doc)."""
    v = metrics.get("video", {}).get("all", {})
    reals = [r for x, r in results if x.label == 0]
    fakes = [r for x, r in results if x.label == 1]

    def count(rs: list[MediaResult], test: Any) -> int:
        return sum(1 for r in rs if test(r))

    faces = [f for _, r in results for f in r.faces]
    widths = [f.bbox[2] - f.bbox[0] for f in faces]
    names = sorted({n for _, r in results for n in r.detector_logits})
    drift = {
        n: {
            "real": float(np.mean([r.detector_logits[n] for r in reals if n in r.detector_logits]))
            if any(n in r.detector_logits for r in reals) else None,
            "fake": float(np.mean([r.detector_logits[n] for r in fakes if n in r.detector_logits]))
            if any(n in r.detector_logits for r in fakes) else None,
        }
        for n in names
    }
    p_real = [r.probability for r in reals if r.probability is not None]
    p_fake = [r.probability for r in fakes if r.probability is not None]
    return {
        "n_real": len(reals),
        "n_fake": len(fakes),
        "unscored": metrics.get("unscored", []),
        "failed": metrics.get("failed", []),
        "video_auc": v.get("auc"),
        "eer": v.get("eer"),
        "ap": v.get("ap"),
        "accuracy_at_0.5": v.get("accuracy"),
        "false_alarms_at_0.5": sum(1 for p in p_real if p >= 0.5),
        "misses_at_0.5": sum(1 for p in p_fake if p < 0.5),
        "reals_likely_fake": count(reals, lambda r: r.verdict == "likely fake"),
        "reals_inconclusive": count(reals, lambda r: r.verdict == "inconclusive"),
        "fakes_likely_real": count(fakes, lambda r: r.verdict == "likely real"),
        "fakes_inconclusive": count(fakes, lambda r: r.verdict == "inconclusive"),
        "frame_auc": metrics.get("frame", {}).get("all", {}).get("auc"),
        "per_detector_video_auc": per_detector(results),
        "mean_detector_logit": drift,
        "median_probability": {
            "real": float(np.median(p_real)) if p_real else None,
            "fake": float(np.median(p_fake)) if p_fake else None,
        },
        "usable_faces": round(sum(f.usable for f in faces) / len(faces), 3) if faces else None,
        "unusable_reasons": sorted({f.reason for f in faces if f.reason}),
        "median_face_px": round(float(np.median(widths)), 1) if widths else None,
        "size": sorted({f"{r.width}x{r.height}" for _, r in results}),
        "kbps": _bitrate([x.path for x, _ in results]),
        "seconds": round(sum(r.seconds for _, r in results), 1),
    }


def mixed(files: dict[str, dict[str, list[dict[str, Any]]]], key: str) -> dict[str, Any]:
    """Video AUC when the two classes come at different qualities, per condition: its reals
    against the original fakes, and the original reals against its fakes (a detector whose
    score follows the quality would split these two apart)."""

    def probs(cond: str, label: int) -> list[float]:
        return [f["probability"] for f in files[cond][key]
                if f["label"] == label and f["probability"] is not None]

    return {
        c: {
            "reals_here_vs_orig_fakes": auc_real_vs_fake(probs(c, 0), probs("orig", 1)),
            "orig_reals_vs_fakes_here": auc_real_vs_fake(probs("orig", 0), probs(c, 1)),
        }
        for c in files
        if key in files[c]
    }


def _files(results: list[tuple[Labelled, MediaResult]]) -> list[dict[str, Any]]:
    return [{**row, "usable_faces": sum(f.usable for f in r.faces), "faces": len(r.faces)}
            for row, (_, r) in zip(file_rows(results), results, strict=True)]


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bench-dir", type=Path, required=True,
                    help="bench/detect.py's work folder (labels.csv and its videos)")
    ap.add_argument("--swaps", type=Path, default=None, help="detect-train's swaps/ folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/doppelab-robust"),
                    help="folder for the re-encoded copies (cached)")
    ap.add_argument("--conditions", default=DEFAULT, help=f"comma-separated (default {DEFAULT})")
    ap.add_argument("--sets", default=None,
                    help="comma-separated subset of bench, pair-1, pair-2 (default: all given)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect_robust.json"))
    return ap.parse_args()


def _line(cond: str, key: str, s: dict[str, Any]) -> str:
    det = " ".join(f"{k}={v:.3f}" for k, v in s["per_detector_video_auc"].items())
    return (f"{cond:22s} {key:20s} AUC {s['video_auc']:.3f} EER {s['eer']:.3f} "
            f"AP {s['ap']:.3f} acc {s['accuracy_at_0.5']:.3f} FA {s['false_alarms_at_0.5']}/"
            f"{s['n_real']} miss {s['misses_at_0.5']}/{s['n_fake']} real->fake "
            f"{s['reals_likely_fake']} fake->real {s['fakes_likely_real']} | {det}")


def main() -> int:
    args = _args()
    conditions = args.conditions.split(",")
    for c in conditions:
        parse(c)
    sets: dict[str, list[Labelled]] = {"bench": read_labels(args.bench_dir / "labels.csv")}
    if args.swaps:
        sets.update(swap_sets(args.swaps))
    if args.sets:
        wanted = args.sets.split(",")
        sets = {k: v for k, v in sets.items() if any(k.startswith(w) for w in wanted)}
    det = Detect(DetectConfig())
    for cond in conditions:
        for key, rows in sets.items():
            group = "bench" if key == "bench" else "swaps"
            t0 = time.perf_counter()
            copies = [
                Labelled(path=make_copy(r.path, cond, args.work, group), label=r.label,
                         source=r.source)
                for r in rows
            ]
            t_enc = time.perf_counter() - t0
            metrics, results = evaluate(copies, det)
            s = summarise(metrics, results)
            s["encode_seconds"] = round(t_enc, 1)
            save(args.out, cond, key, s, _files(results))
            print(_line(cond, key, s), flush=True)
    return 0


def save(out: Path, cond: str, key: str, summary: dict, files: list[dict[str, Any]]) -> None:
    """Put one condition's numbers on one set into ``out``, keeping everything else there (an
    earlier run's conditions and sets, or another run's writing to the same file meanwhile)."""
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report["machine"] = {"python": platform.python_version(), "cores": os.cpu_count()}
    report["encoder"] = f"libx264 preset {PRESET}, yuv420p (doppelab VideoWriter)"
    report.setdefault("conditions", {}).setdefault(cond, {})[key] = summary
    report.setdefault("files", {}).setdefault(cond, {})[key] = files
    report["mixed"] = {k: mixed(report["files"], k) for k in report["files"].get("orig", {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(clean_json(report), indent=2, default=str) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
