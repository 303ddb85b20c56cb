"""Real speech in everyday rooms and noise: does the speech detector call it fake?

Public real-world recordings (In-the-Wild, phone calls, meetings) are rarely clean studio
speech. This bench takes ``--files`` real ``dev`` recordings of ``../shared/data/speech`` and
scores each as published and after one everyday degradation at a time:

* additive noise: white at 20 dB SNR, pink at 10 dB, babble (another dev recording) at 10 dB;
* room reverberation: a synthetic impulse response (a direct path plus an exponentially
  decaying noise tail of reverberation time RT60; the tail's energy set ``DRR`` dB below the
  direct path's), RT60 / DRR of 0.3 s / +10 dB (a small, damped room near the microphone),
  0.5 s / +5 dB and 0.5 s / 0 dB (a living room or office, a metre or two away).

Reported per condition: how many files get "likely fake" / "inconclusive", and the median
probability. Every file is real, so every "likely fake" is a false alarm.

Usage: python bench/speech_rooms.py [--data-dir ../shared/data] [--files 40]
       [--out bench/results/speech_rooms.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.audio import load_audio
from doppelab.audio.encode import write_audio
from doppelab.core.storage import atomic_write_text
from doppelab.detect.speech import SpeechDetector, analyse_speech
from doppelab.detect.speech_data import room_tail

F32 = np.ndarray


def pink(n: int, rng: np.random.Generator) -> F32:
    """Pink (1/f power) noise of ``n`` samples."""
    f = np.fft.rfftfreq(n)
    spec = rng.normal(size=len(f)) + 1j * rng.normal(size=len(f))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def mix(x: F32, noise: F32, snr_db: float) -> F32:
    """``x`` plus ``noise`` scaled to ``snr_db`` below it (mean power)."""
    gain = np.sqrt((np.mean(x ** 2) + 1e-12) / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return (x + noise * gain).astype(np.float32)


def reverb(x: F32, rate: int, rt60: float, drr_db: float, rng: np.random.Generator) -> F32:
    """``x`` through a synthetic room (see the module doc), peak level kept."""
    y = np.convolve(x, room_tail(rt60, drr_db, rng, rate))[: len(x)]
    return (y * np.abs(x).max() / (np.abs(y).max() + 1e-9)).astype(np.float32)


def conditions(other: F32, rate: int) -> dict[str, Callable[[F32, np.random.Generator], F32]]:
    """Every degradation as ``f(samples, rng)``; ``other``: the babble recording."""
    return {
        "white_20db": lambda x, r: mix(x, r.normal(size=len(x)), 20.0),
        "pink_10db": lambda x, r: mix(x, pink(len(x), r), 10.0),
        "babble_10db": lambda x, r: mix(x, np.resize(other, len(x)), 10.0),
        "room_rt0.3_drr10": lambda x, r: reverb(x, rate, 0.3, 10.0, r),
        "room_rt0.5_drr5": lambda x, r: reverb(x, rate, 0.5, 5.0, r),
        "room_rt0.5_drr0": lambda x, r: reverb(x, rate, 0.5, 0.0, r),
    }


def run(data: Path, files: int) -> dict[str, Any]:
    """Verdicts of ``files`` real dev recordings as published and under every condition."""
    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"]
    pick = np.random.default_rng(0).choice(len(rows), min(files, len(rows)), replace=False)
    rows = [rows[i] for i in sorted(pick)]
    det = SpeechDetector()
    per_file: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, row in enumerate(rows):
            clip = load_audio(data / row["file"], normalize=False)
            base = analyse_speech(data / row["file"], det)
            if base.probability is None:
                continue
            donor = rows[(k + 7) % len(rows)]["file"]
            other = load_audio(data / donor, normalize=False, sample_rate=clip.sample_rate)
            out = {"published": [base.verdict, round(base.probability, 3)]}
            rng = np.random.default_rng(1)
            for name, fn in conditions(other.samples, clip.sample_rate).items():
                path = write_audio(Path(tmp) / "v.wav", fn(clip.samples, rng), clip.sample_rate)
                res = analyse_speech(path, det)
                prob = None if res.probability is None else round(res.probability, 3)
                out[name] = [res.verdict, prob]
            per_file[row["file"]] = out
    summary = {}
    for name in next(iter(per_file.values())):
        got = [v[name] for v in per_file.values()]
        probs = [p for _, p in got if p is not None]
        summary[name] = {"files": len(got),
                         "likely_fake": sum(v == "likely fake" for v, _ in got),
                         "inconclusive": sum(v == "inconclusive" for v, _ in got),
                         "median_probability": float(np.median(probs)) if probs else None}
    return {"what": __doc__.splitlines()[0] if __doc__ else "", "summary": summary,
            "per_file": per_file}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data-dir", type=Path,
                    default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("bench/results/speech_rooms.json"))
    args = ap.parse_args()
    result = run(args.data_dir, args.files)
    atomic_write_text(args.out, json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
