"""Do two versions of the audio scoring code give the same scores? (speed work must not move them)

Scores real dev recordings, fakes made from other dev recordings (Griffin-Lim, WORLD and LPC
copy-synthesis, fixed seeds) and the 60 s file of ``bench/audio.py --speed-only`` through
``analyse_speech`` (decode, VAD, windows, features, ONNX), and keeps every window's features
and logit, the VAD segments and each file's probability.

``--save REF.npz`` writes them (run it with the *old* code on ``PYTHONPATH``); ``--check REF.npz``
scores the same files with the code on ``PYTHONPATH`` now and compares: the largest feature
difference relative to the feature's spread over all windows, the largest logit and file
probability differences, and whether the segments are the same. It exits non-zero when a file
probability moves by more than ``--prob-tol`` (1e-4) or a feature by more than ``--feat-tol``
(1e-5 of its spread), and writes the comparison to ``--out``.

Usage: PYTHONPATH=/work/main/src python bench/audio_equivalence.py --save /tmp/ref.npz
       PYTHONPATH=src python bench/audio_equivalence.py --check /tmp/ref.npz
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.audio import load_audio
from doppelab.audio.encode import write_audio
from doppelab.core.storage import atomic_write_text
from doppelab.detect.speech import SpeechDetector, analyse_speech
from doppelab.detect.speech_fakes import griffin_lim, lpc_vocoder, world_vocoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
_FAKES = {"griffinlim": griffin_lim, "world": world_vocoder, "lpc": lpc_vocoder}


def _files(data: Path, tmp: Path, n_real: int, n_fake: int) -> list[Path]:
    """``n_real`` dev recordings, ``n_fake`` fakes of each family from the next ones, the 60 s
    bench file."""
    from audio import _speech_file  # bench/audio.py

    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"]
    step = max(1, len(rows) // (n_real + n_fake))
    picked = [data / r["file"] for r in rows[::step]]
    out = picked[:n_real]
    for k, (name, fn) in enumerate(_FAKES.items()):
        for j, src in enumerate(picked[n_real:n_real + n_fake]):
            x = load_audio(src).samples
            y = fn(x, np.random.default_rng(1000 * k + j))
            out.append(write_audio(tmp / f"{name}_{j}.flac", np.asarray(y, np.float32), 16_000))
    out.append(_speech_file(data, tmp)[0])
    return out


def _score(files: list[Path], hop: float) -> dict[str, np.ndarray]:
    det = SpeechDetector()
    feats, logits, probs, segs, owner = [], [], [], [], []
    for i, f in enumerate(files):
        res = analyse_speech(f, det, hop=hop)
        probs.append(np.nan if res.probability is None else res.probability)
        segs.extend((i, a, b) for a, b in res.segments)
        logits.extend(w["logit"] for w in res.windows)
        owner.extend([i] * len(res.windows))
        if res.windows:
            from doppelab.audio import iter_audio_blocks, speech_segments
            from doppelab.detect.speech import _block_windows

            for block in iter_audio_blocks(f):
                wins, _ = _block_windows(block.samples, speech_segments(block), 0.0, hop)
                if len(wins):
                    feats.append(det.forward(wins)["features"])
    return {"features": np.concatenate(feats), "logits": np.array(logits),
            "probabilities": np.array(probs), "segments": np.array(segs, np.float64),
            "owner": np.array(owner)}


def _compare(ref: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict[str, Any]:
    spread = ref["features"].std(axis=0) + 1e-12
    fd = np.abs(new["features"] - ref["features"]) / spread
    pr, pn = ref["probabilities"], new["probabilities"]
    return {"windows": len(ref["logits"]), "files": len(pr),
            "max_feature_difference_over_spread": float(fd.max()),
            "worst_feature": int(np.unravel_index(fd.argmax(), fd.shape)[1]),
            "max_feature_relative_difference": float(
                (np.abs(new["features"] - ref["features"])
                 / (np.abs(ref["features"]) + 1e-3)).max()),
            "max_logit_difference": float(np.abs(new["logits"] - ref["logits"]).max()),
            "max_probability_difference": float(np.nanmax(np.abs(pn - pr))),
            "same_inconclusive": bool((np.isnan(pn) == np.isnan(pr)).all()),
            "segments_identical": bool(ref["segments"].shape == new["segments"].shape
                                       and np.array_equal(ref["segments"], new["segments"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path)
    mode.add_argument("--check", type=Path)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--real", type=int, default=16)
    ap.add_argument("--fake", type=int, default=4, help="files per fake family")
    ap.add_argument("--prob-tol", type=float, default=1e-4)
    ap.add_argument("--feat-tol", type=float, default=1e-5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                    "audio_equivalence.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as t:
        files = _files(args.data_dir, Path(t), args.real, args.fake)
        scores = {f"hop{h:g}_{k}": v for h in (1.0, 0.5) for k, v in _score(files, h).items()}
    if args.save:
        np.savez(args.save, **scores)
        print(f"saved {len(files)} files to {args.save} in {time.perf_counter() - t0:.0f} s")
        return
    ref = dict(np.load(args.check))
    res: dict[str, Any] = {}
    for h in ("hop1", "hop0.5"):
        pick = {k: ref[f"{h}_{k}"] for k in ("features", "logits", "probabilities", "segments")}
        got = {k: scores[f"{h}_{k}"] for k in pick}
        res[h] = _compare(pick, got)
    res["tolerances"] = {"probability": args.prob_tol, "feature_over_spread": args.feat_tol}
    ok = all(r["max_probability_difference"] <= args.prob_tol and r["same_inconclusive"]
             and r["max_feature_difference_over_spread"] <= args.feat_tol
             for r in (res["hop1"], res["hop0.5"]))
    res["equivalent"] = ok
    text = json.dumps(res, indent=2)
    atomic_write_text(args.out, text + "\n")
    print(text)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
