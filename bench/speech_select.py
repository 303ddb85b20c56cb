"""How the speech detector's front end and recipe were chosen: leave-one-family-out on *train*
speakers only (dev is never looked at).

Train speakers (and TTS sentences) are hashed into 3 folds. For every fake family F and fold k a
model is trained on the train windows of the other folds without family F, and measured on
fold k: real windows against F's windows (EER). Reported per family as the mean over folds, with
the mean and the worst family, for each variant:

* ``magnitude``: the 192 magnitude statistics (the first recipe);
* ``magnitude+phase``: plus the 29 phase-sensitive statistics (``speech_phase``);
* ``magnitude+pseudo``: magnitude statistics, with the phase-jitter pseudo-fakes in training;
* ``magnitude+phase+pseudo``: both (the shipped recipe).

Pseudo-fakes of fold k's speakers are never trained on in fold k. Reads the window features the
recipe cached (``WORK/features-v3-train.npz``, made by ``doppelab detect-train --audio``).
The CPU is shared, so the printed seconds are pessimistic.

Usage: python bench/speech_select.py --work WORK [--data-dir ../shared/data] [--steps 1000]
       [--variants magnitude,magnitude+phase+pseudo] [--out bench/results/speech_select.json]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.storage import atomic_write_text
from doppelab.detect.metrics import eer
from doppelab.detect.speech_data import FAMILIES
from doppelab.detect.speech_features import N_FEATURES
from doppelab.detect.speech_model import SpeechTrainConfig, fit, predict_logits
from doppelab.detect.train_speech import PSEUDO_FAMILY, features

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("magnitude", "magnitude+phase", "magnitude+pseudo", "magnitude+phase+pseudo")


def speaker_folds(data: Path, groups: list[str], n: int = 3) -> np.ndarray:
    """Fold of each window: its speaker (clip identity; the group itself for TTS) hashed."""
    speaker: dict[str, str] = {}
    with open(data / "speech.csv", newline="") as fh:
        speaker.update((r["file"], r["speaker"]) for r in csv.DictReader(fh))
    with open(data / "clips.csv", newline="") as fh:
        speaker.update((r["file"], r["identity"]) for r in csv.DictReader(fh))

    def h(s: str) -> int:
        return int(hashlib.sha1(s.encode(), usedforsecurity=False).hexdigest()[:8], 16) % n
    return np.array([h(speaker.get(g, g)) for g in groups])


def inner_lofo(x: np.ndarray, y: np.ndarray, fam: np.ndarray, fold: np.ndarray,
               cfg: SpeechTrainConfig) -> dict[str, float]:
    """Mean-over-folds EER per left-out family, plus ``mean`` and ``max``."""
    out: dict[str, float] = {}
    for left in [f for f in FAMILIES[1:] if f in set(fam)]:
        errs = []
        for k in np.unique(fold):
            train = (fold != k) & (fam != left)
            test = (fold == k) & ((fam == "real") | (fam == left))
            model = fit(x[train], y[train], cfg)
            errs.append(eer(y[test], predict_logits(model, x[test])))
        out[left] = float(np.mean(errs))
    vals = list(out.values())
    out["mean"], out["max"] = float(np.mean(vals)), float(np.max(vals))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the detect-train --audio work dir")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=1000, help="MLP steps per model (default 1000)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speech_select.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    x, y, fam_l, groups = features(args.work, "train")
    fam = np.array(fam_l)
    fold = speaker_folds(args.data_dir, groups)
    cfg = SpeechTrainConfig(steps=args.steps)
    res: dict[str, Any] = {"folds": 3, "steps": args.steps, "windows": len(y), "variants": {}}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        keep = np.ones(len(y), bool) if "pseudo" in name else fam != PSEUDO_FAMILY
        cols = slice(None) if "phase" in name else slice(0, N_FEATURES)
        t0 = time.perf_counter()
        r = inner_lofo(x[keep][:, cols], y[keep], fam[keep], fold[keep], cfg)
        res["variants"][name] = {**r, "seconds": round(time.perf_counter() - t0, 1)}
        print(name, json.dumps(res["variants"][name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
