"""Benchmark of the audio-visual sync analysis on the shared data set's ``dev`` clips.

Material (all made by re-timing the audio in the container: packets copied, nothing re-encoded,
so the video stream and its face track stay bit-identical):

* ``in_sync``: each dev clip with speech as published;
* ``shifted``: its audio moved by ``+-2..10`` video frames (positive = audio later);
* ``swapped``: its video with the audio of every other dev clip (dubbed audio).

Reported for the shipped sync analysis (``net``: the network's lag curve combined with the
audio-to-mouth ridge model's, or the network alone with ``--no-lipreg``) and the training-free
cross-correlation (``xcorr``): offset error against the known shift (assuming the published
clips are in sync) and against the clip's own in-sync estimate (``relative``), the fraction
within one frame, per-window offset accuracy, AUC of ``probability_fake`` for in-sync vs shifted
and in-sync vs swapped, at clip level and on independent ``SEGMENT_S`` segments of each clip
(more samples; each segment is analysed alone), and the speed of :func:`analyse_av_sync` end to
end (decode, face mesh, audio, network) in times real time.

Usage: python bench/avsync.py [--data-dir ../shared/data] [--split dev]
       [--cache ~/.cache/doppelab/avsync] [--out bench/results/avsync.json]
       [--weights W.npz] [--lipreg L.npz | --no-lipreg] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.storage import atomic_write_text
from doppelab.detect.avsync import AVSyncResult, analyse_av_sync, analyse_streams
from doppelab.detect.avsync.dataset import Clip, cached_face_track, default_cache, list_clips
from doppelab.detect.avsync.features import audio_segments
from doppelab.detect.avsync.lipreg import LIPREG_WEIGHTS
from doppelab.detect.avsync.net import WEIGHTS
from doppelab.detect.avsync.retime import retime_audio, swap_audio
from doppelab.detect.avsync.streams import AudioTrack, FaceTrack, read_audio
from doppelab.detect.metrics import auc_real_vs_fake
from doppelab.detect.report import clean_json

SHIFTS = tuple(k for k in range(-10, 11) if abs(k) >= 2)
SEGMENT_S = 3.0


def segments(track: FaceTrack) -> list[FaceTrack]:
    """Non-overlapping ``SEGMENT_S`` pieces of a face track (the audio stays whole)."""
    n = max(1, round(SEGMENT_S * track.fps))
    out = []
    for lo in range(0, len(track.times) - n + 1, n):
        out.append(replace(track, points=track.points[lo : lo + n], times=track.times[lo : lo + n]))
    return out


def score(track: FaceTrack, audio: AudioTrack, models: dict[str, Any]) -> dict[str, Any]:
    """Clip-level and segment-level numbers of one (track, audio) pair; ``models``: the
    ``weights`` and ``lipreg`` arguments of :func:`analyse_streams`."""
    speech = audio_segments(audio)  # the VAD once; every segment shares the same audio
    res = analyse_streams(track, audio, segments=speech, **models)
    segs = [analyse_streams(s, audio, segments=speech, **models) for s in segments(track)]
    return {"clip": _row(res), "segments": [_row(r) for r in segs if r.status == "ok"]}


def _row(r: AVSyncResult) -> dict[str, Any]:
    return {"status": r.status, "offset": r.offset_frames, "confidence": r.confidence,
            "p_fake": r.probability_fake, "decision_score": r.decision_score,
            "xcorr_offset": r.xcorr_offset_frames, "xcorr_confidence": r.xcorr_confidence,
            "windows": [w.offset_frames for w in r.windows]}


def run_clip(
    clip: Clip, others: list[Clip], cache: Path, work: Path, models: dict[str, Any]
) -> dict[str, Any]:
    """In-sync, shifted and swapped results of one clip (``{"name", "skipped"}`` when it has
    no speech)."""
    track = cached_face_track(clip.path, cache)
    audio = read_audio(clip.path)
    assert audio is not None
    base = score(track, audio, models)
    if base["clip"]["status"] != "ok":
        return {"name": clip.name, "skipped": base["clip"]["status"]}
    out: dict[str, Any] = {"name": clip.name, "fps": track.fps, "in_sync": base, "shifted": {},
                           "swapped": {}}
    tmp = work / f"{clip.name}.mp4"
    for k in SHIFTS:
        retime_audio(clip.path, tmp, k / track.fps)
        moved = read_audio(tmp)
        assert moved is not None
        out["shifted"][k] = score(track, moved, models)
    for other in others:
        swap_audio(clip.path, other.path, tmp)
        dubbed = read_audio(tmp)
        assert dubbed is not None
        out["swapped"][other.name] = score(track, dubbed, models)
    return out


def offset_stats(clips: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Offset errors (absolute vs the known shift; relative to the clip's in-sync estimate)."""
    err, rel, win = [], [], []
    per_clip: dict[str, dict[str, float]] = {}
    for c in clips:
        base = c["in_sync"]["clip"][key]
        mine_e, mine_r = [], []
        for k, r in c["shifted"].items():
            est = r["clip"][key]
            mine_e.append(abs(est - int(k)))
            mine_r.append(abs(est - base - int(k)))
            if key == "offset":
                win += [abs(w - int(k)) for w in r["clip"]["windows"]]
        err += mine_e
        rel += mine_r
        per_clip[c["name"]] = {"within_1_frame": float(np.mean(np.array(mine_e) <= 1.0)),
                               "relative_within_1_frame": float(np.mean(np.array(mine_r) <= 1.0))}
    e, q = np.array(err), np.array(rel)
    stats = {"cases": len(e), "within_1_frame": float(np.mean(e <= 1.0)),
             "median_abs_error": float(np.median(e)), "mean_abs_error": float(np.mean(e)),
             "relative_within_1_frame": float(np.mean(q <= 1.0)),
             "in_sync_offsets": [c["in_sync"]["clip"][key] for c in clips],
             "per_clip": per_clip}
    if win:
        stats["window_within_1_frame"] = float(np.mean(np.array(win) <= 1.0))
        stats["windows"] = len(win)
    return stats


def aucs(clips: list[dict[str, Any]], level: str, key: str = "p_fake") -> dict[str, Any]:
    """AUC of ``key`` (``p_fake``, or ``abs_offset``: the previous rule's |offset|): in-sync (0)
    vs shifted (1) and vs swapped (1); per |shift| too; for ``p_fake`` also the share of each
    class on the right side of 0.5."""
    def rows(r: dict[str, Any]) -> list[dict[str, Any]]:
        return [r["clip"]] if level == "clip" else r["segments"]

    def val(x: dict[str, Any]) -> float:
        return abs(float(x["offset"])) if key == "abs_offset" else float(x[key])

    real = [val(x) for c in clips for x in rows(c["in_sync"])]
    out: dict[str, Any] = {"score": key, "in_sync": len(real)}
    if key == "p_fake":
        out["in_sync_below_half"] = float(np.mean(np.array(real) < 0.5))
    for name in ("shifted", "swapped"):
        fake = [val(x) for c in clips for r in c[name].values() for x in rows(r)]
        out[f"auc_in_sync_vs_{name}"] = auc_real_vs_fake(real, fake)
        out[name] = len(fake)
        if key == "p_fake":
            out[f"{name}_at_or_above_half"] = float(np.mean(np.array(fake) >= 0.5))
    by_shift = {}
    for s in sorted({abs(k) for k in SHIFTS}):
        fake = [val(x) for c in clips for k, r in c["shifted"].items()
                if abs(int(k)) == s for x in rows(r)]
        by_shift[s] = auc_real_vs_fake(real, fake)
    out["auc_by_abs_shift"] = by_shift
    return out


def speed(clips: list[Clip], models: dict[str, Any]) -> dict[str, Any]:
    """End-to-end :func:`analyse_av_sync` time per clip (model already loaded)."""
    per = []
    for clip in clips:
        t0 = time.perf_counter()
        res = analyse_av_sync(clip.path, **models)
        dt = time.perf_counter() - t0
        frames = res.face_frames or 1
        per.append({"name": clip.name, "seconds": dt, "frames_per_s": frames / dt,
                    "times_real_time": (frames / (res.fps or 25.0)) / dt})
    return {"per_clip": per,
            "median_times_real_time": float(np.median([p["times_real_time"] for p in per])),
            "median_frames_per_s": float(np.median([p["frames_per_s"] for p in per]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent
                    / "shared" / "data")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--out", type=Path, default=Path("bench/results/avsync.json"))
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped network")
    ap.add_argument("--lipreg", type=Path, default=LIPREG_WEIGHTS,
                    help="audio-to-mouth model combined with the network (default: shipped)")
    ap.add_argument("--no-lipreg", action="store_true", help="the network alone")
    ap.add_argument("--limit", type=int, default=None, help="first N clips only (a quick look)")
    args = ap.parse_args()
    weights = args.weights or WEIGHTS
    models = {"weights": weights, "lipreg": None if args.no_lipreg else args.lipreg}
    clips = list_clips(args.data_dir, args.split)[: args.limit]
    done: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        for clip in clips:
            t0 = time.perf_counter()
            others = [c for c in clips if c.name != clip.name]
            done.append(run_clip(clip, others, args.cache, Path(work), models))
            print(f"{clip.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    good = [c for c in done if "skipped" not in c]
    good_names = {g["name"] for g in good}
    for c in good:  # a swap whose donor has no speech is not dubbed speech
        c["swapped"] = {k: v for k, v in c["swapped"].items() if k in good_names}
    result = {
        "split": args.split, "clips": [c["name"] for c in good],
        "skipped": {c["name"]: c["skipped"] for c in done if "skipped" in c},
        "shifts_frames": list(SHIFTS),
        "offset_net": offset_stats(good, "offset"),
        "offset_xcorr": offset_stats(good, "xcorr_offset"),
        "detection_clip": aucs(good, "clip"), "detection_segments": aucs(good, "segment"),
        "detection_clip_abs_offset": aucs(good, "clip", "abs_offset"),
        "detection_segments_abs_offset": aucs(good, "segment", "abs_offset"),
        "speed": speed([c for c in clips if c.name in good_names], models),
        "weights": str(weights), "lipreg": str(models["lipreg"]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "2 shared CPU cores under load from other jobs: speed is pessimistic"},
        "raw": good,
    }
    text = json.dumps(clean_json(result), indent=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    summary = {k: result[k] for k in ("offset_net", "offset_xcorr", "detection_clip",
                                      "detection_segments", "detection_clip_abs_offset")}
    print(json.dumps(clean_json(summary), indent=1, default=str)[:4000])


if __name__ == "__main__":
    main()
