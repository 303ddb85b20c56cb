"""Benchmark of the speech detector (and the AV-sync detector when it is installed).

Reported (``bench/results/audio.json``):

* ``leave_one_family_out``: per fake family, a model trained on train windows of real speech and
  every *other* family, EER/AUC on dev real vs dev windows of the left-out family. With
  ``--lofo`` the models are trained here from ``WORK/features-*.npz`` (as the recipe does);
  otherwise the recipe's own numbers are read from ``WORK/model/speech.json``.
* ``dev``: the *shipped* model scored here on every dev window (unseen speakers, TTS voices
  reserved for dev): EER/AUC overall and per family.
* ``invariance``: dev real recordings (``--files`` of them) scored through ``analyse_speech`` as
  the original FLAC, as MP3 (32 kb/s), as 8 kHz mu-law telephone audio, with 2 s of silence on
  each side and at -12 dB: how often the verdict changes at all (``verdict_changes``, e.g. to
  or from "inconclusive"), how often it turns into the opposite decisive verdict
  (``decisive_flips``), the largest change in probability and every change over 0.3.
* ``speed``: ``analyse_speech`` (decode, resample, VAD, spectral statistics, MLP) on a 60 s file
  of dev speech, in times real time: Silero VAD with 1 s hop (the default), WebRTC VAD with 1 s
  and 2 s hops; the CPU is shared with other jobs, so these numbers are pessimistic.
* ``av_sync``: whatever ``bench/avsync.py`` wrote to ``bench/results/avsync.json`` (if present).

Usage: python bench/audio.py --work /work/audio-work [--data-dir ../shared/data] [--lofo]
       [--files 24] [--out bench/results/audio.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.audio import load_audio
from doppelab.audio.encode import codec_roundtrip, write_audio
from doppelab.detect.metrics import eer, roc_auc
from doppelab.detect.speech import AudioWindows, SpeechDetector, analyse_speech
from doppelab.detect.speech_data import FAMILIES, load_shards

ROOT = Path(__file__).resolve().parents[1]


def _dev_scores(work: Path, det: SpeechDetector) -> dict[str, Any]:
    windows, y, fam, _ = load_shards(work / "shards", "dev")
    logits = np.concatenate([det.forward(AudioWindows(windows=windows[i:i + 256]))["logits"]
                             for i in range(0, len(windows), 256)])
    fam_a = np.array(fam)
    out: dict[str, Any] = {"all": {"eer": eer(y, logits), "auc": roc_auc(y, logits),
                                   "n_real": int((y == 0).sum()), "n_fake": int(y.sum())}}
    for f in FAMILIES[1:]:
        sel = (fam_a == "real") | (fam_a == f)
        if (fam_a == f).any():
            out[f] = {"eer": eer(y[sel], logits[sel]), "auc": roc_auc(y[sel], logits[sel]),
                      "n_fake": int((fam_a == f).sum())}
    return out


def _variants(path: Path, tmp: Path) -> dict[str, Path]:
    clip = load_audio(path, normalize=False)
    x, rate = clip.samples, clip.sample_rate
    pad = np.zeros(2 * rate, np.float32)
    return {
        "mp3": write_audio(tmp / "v.mp3", x, rate, bitrate=32_000),
        "tel8k": write_audio(tmp / "v8.wav", codec_roundtrip(x, rate, "mulaw", codec_rate=8000),
                             rate),
        "silence": write_audio(tmp / "vs.wav", np.concatenate([pad, x, pad]), rate),
        "quiet": write_audio(tmp / "vq.wav", x * np.float32(10 ** (-12 / 20)), rate),
    }


def _invariance(data: Path, det: SpeechDetector, n: int) -> dict[str, Any]:
    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"]
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in sorted(rng.choice(len(rows), min(n, len(rows)), replace=False))]
    flips: dict[str, int] = {}
    decisive: dict[str, int] = {}
    delta: dict[str, float] = {}
    large: list[dict[str, Any]] = []
    scored = 0
    with tempfile.TemporaryDirectory() as t:
        for r in rows:
            base = analyse_speech(data / r["file"], det)
            if base.probability is None:
                continue
            scored += 1
            for name, p in _variants(data / r["file"], Path(t)).items():
                v = analyse_speech(p, det)
                flips[name] = flips.get(name, 0) + int(v.verdict != base.verdict)
                opposite = {v.verdict, base.verdict} == {"likely real", "likely fake"}
                decisive[name] = decisive.get(name, 0) + int(opposite)
                d = abs((v.probability or 0.5) - base.probability)
                delta[name] = max(delta.get(name, 0.0), d)
                if d > 0.3:
                    large.append({"file": r["file"], "variant": name,
                                  "from": round(base.probability, 3),
                                  "to": None if v.probability is None else round(v.probability, 3)})
    return {"files": scored, "verdict_changes": flips, "decisive_flips": decisive,
            "max_probability_change": delta, "changes_over_0.3": large}


def _speed(data: Path, det: SpeechDetector) -> dict[str, Any]:
    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"]
    parts, total = [], 0.0
    for r in rows:
        c = load_audio(data / r["file"], normalize=False)
        parts.append(c.samples)
        total += c.duration
        if total >= 60:
            break
    out: dict[str, Any] = {"audio_seconds": round(total, 1)}
    with tempfile.TemporaryDirectory() as t:
        path = write_audio(Path(t) / "long.flac", np.concatenate(parts), 16_000)
        analyse_speech(path, det)  # warm-up (sessions, caches)
        for vad, hop in (("silero", 1.0), ("webrtc", 1.0), ("webrtc", 2.0)):
            t0 = time.perf_counter()
            res = analyse_speech(path, det, vad=vad, hop=hop)
            dt = time.perf_counter() - t0
            out[f"x_real_time_{vad}_vad_hop{hop:g}s"] = round(res.duration / dt, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the detect-train --audio work dir")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--lofo", action="store_true", help="train the leave-one-out models here")
    ap.add_argument("--files", type=int, default=24, help="dev files for the invariance check")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "audio.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    det = SpeechDetector()
    res: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "load_avg_1min_at_start": os.getloadavg()[0]}}
    if args.lofo:
        from doppelab.detect.train_speech import SpeechRecipe, _lofo, features

        res["leave_one_family_out"] = _lofo(features(args.work, "train"),
                                            features(args.work, "dev"), SpeechRecipe(), print)
        res["leave_one_family_out_source"] = "trained by this run"
    else:
        card = json.loads((args.work / "model" / "speech.json").read_text())
        res["leave_one_family_out"] = card["metrics"].get("leave_one_family_out")
        res["leave_one_family_out_source"] = str(args.work / "model" / "speech.json")
    res["dev"] = _dev_scores(args.work, det)
    res["invariance"] = _invariance(args.data_dir, det, args.files)
    res["speed"] = _speed(args.data_dir, det)
    av = ROOT / "bench" / "results" / "avsync.json"
    if av.exists():
        res["av_sync"] = json.loads(av.read_text())
    res["load_avg_1min_at_end"] = os.getloadavg()[0]
    text = json.dumps(res, indent=2, default=float)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(args.out)
    print(text)


if __name__ == "__main__":
    main()
