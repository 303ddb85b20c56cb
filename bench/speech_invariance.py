"""How the speech detector's codec invariance was chosen: on held-out *train* speakers, not dev.

A quarter of the train speakers (``speaker_folds`` of ``bench/speech_select.py`` with 4 folds,
fold 0) is held out. For each candidate recipe a model is trained exactly as the shipped one
(:func:`doppelab.detect.train_speech._final`: 80% of the remaining recordings, Platt-calibrated
on the other 20%) on the train windows of the other speakers, then measured on the held-out
speakers: EER of their windows (real against their copy-synthesised twins; the phase-jitter
pseudo-fakes left aside) and the invariance check of ``bench/audio.py`` (``_invariance`` with
``split="train"``): their real recordings as FLAC, MP3 32 kb/s, 8 kHz telephone, padded with
silence, at -12 dB; decisive flips count "likely real" <-> "likely fake". Dev numbers of each
candidate are recorded too, but the choice is made on the held-out train speakers.

Candidates:

* ``previous``: the recipe before codec twins (shipped until they were chosen here);
* ``twins``: plus MP3 / 8 kHz codec twins of every train window (both classes) as extra data
  (chosen: no decisive flip on the held-out speakers and the lowest held-out EER; now the
  recipe's default);
* ``twins+gapN``: the twins, and N times the squared logit gap of (window, twin) pairs added to
  the loss (``SpeechTrainConfig.consistency``);
* ``wd1e-2``: the previous recipe with 10x the weight decay;
* ``fused``: the current recipe: the twins recipe with the prosody statistics, the extra
  generators of ``speech_extra`` and the real-speech density fused in
  (``SpeechTrainConfig.density_weight`` 0.5; chosen on train-speaker folds by
  ``bench/speech_select.py``); ``fused+gapN`` the same with the logit-gap penalty.

Usage: python bench/speech_invariance.py --work WORK [--data-dir ../shared/data] [--files 24]
       [--candidates previous,twins+gap1] [--out bench/results/speech_invariance.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from audio import _invariance
from doppelab.core.storage import atomic_write_bytes, atomic_write_text
from doppelab.detect.metrics import eer
from doppelab.detect.speech import SpeechDetector
from doppelab.detect.speech_extra import EXTRA_FAMILIES
from doppelab.detect.speech_model import SpeechTrainConfig, export_onnx, predict_logits
from doppelab.detect.speech_pairs import codec_pair_features
from doppelab.detect.train_speech import (
    PSEUDO_FAMILY,
    SpeechRecipe,
    _final,
    features,
    subset_pairs,
    with_codec_pairs,
)
from speech_select import speaker_folds

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("previous", "wd1e-2", "twins", "twins+gap0.5", "twins+gap1", "twins+gap2",
              "twins+gap4", "fused", "fused+gap1")


def _recipe(name: str) -> SpeechRecipe:
    # the recipe as it was before the twins (no prosody, no extra generators, no density)
    base = replace(SpeechRecipe(), codec_pairs=False, prosody=False, extra_families=(),
                   train=SpeechTrainConfig(), rooms=False)
    if name == "previous":
        return base
    if name == "wd1e-2":
        return replace(base, train=replace(base.train, weight_decay=1e-2))
    if name == "twins":
        return replace(base, codec_pairs=True)
    if name == "fused":
        return SpeechRecipe()
    if name.startswith("fused+gap"):
        fused = SpeechRecipe()
        gap = float(name.removeprefix("fused+gap"))
        return replace(fused, train=replace(fused.train, consistency=gap))
    if name.startswith("twins+gap"):
        gap = float(name.removeprefix("twins+gap"))
        return replace(base, codec_pairs=True, train=replace(base.train, consistency=gap))
    raise SystemExit(f"unknown candidate {name!r}; known: {', '.join(CANDIDATES)}")


def _held_speakers(data: Path) -> set[str]:
    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    fold = speaker_folds(data, [r["file"] for r in rows], n=4)
    return {r["speaker"] for r, k in zip(rows, fold, strict=True) if k == 0}


def _candidate(name: str, work: Path, data: Path, speakers: set[str], files: int
               ) -> dict[str, Any]:
    recipe = _recipe(name)
    tr = features(work, "train", True, recipe.extra_families, recipe.prosody, recipe.rooms)
    dv = features(work, "dev", prosody=recipe.prosody)
    held = speaker_folds(data, tr[3], n=4) == 0
    pairs = None
    full = tr
    if recipe.codec_pairs:
        twins = codec_pair_features(work, extra=recipe.extra_families, prosody=recipe.prosody)
        full, pairs = with_codec_pairs(tr, twins)
        held = np.concatenate([held, held[twins[1]]])
    x, y, fam, group = full
    keep = ~held
    sub = (x[keep], y[keep], [f for f, k in zip(fam, keep, strict=True) if k],
           [g for g, k in zip(group, keep, strict=True) if k])
    t0 = time.perf_counter()
    model, cal, dev, _ = _final(sub, dv, recipe, lambda _r: None, subset_pairs(pairs, keep))
    seconds = time.perf_counter() - t0
    test = held & ~np.isin(np.array(fam), [PSEUDO_FAMILY, *EXTRA_FAMILIES])
    out: dict[str, Any] = {"train_seconds": round(seconds, 1),
                           "held_out_eer": float(eer(y[test], predict_logits(model, x[test]))),
                           "dev_eer": dev["all"]["eer"], "dev_auc": dev["all"]["auc"]}
    with tempfile.TemporaryDirectory() as t:
        onnx = Path(t) / "speech.onnx"
        atomic_write_bytes(onnx, export_onnx(model, x.shape[1]))
        atomic_write_text(onnx.with_suffix(".json"), json.dumps({"calibration": cal}))
        det = SpeechDetector(path=onnx)
        out["held_out_invariance"] = _invariance(data, det, files, split="train",
                                                 speakers=speakers)
    print(json.dumps({name: out}, default=float), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the detect-train --audio work dir")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--files", type=int, default=24, help="held-out real files to re-encode")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results"
                    / "speech_invariance.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    tr = features(args.work, "train")
    speakers = _held_speakers(args.data_dir)
    held = speaker_folds(args.data_dir, tr[3], n=4) == 0
    res: dict[str, Any] = {"held_out_speakers": len(speakers),
                           "held_out_windows": int(held.sum()), "train_windows": len(tr[1]),
                           "candidates": {}}
    if args.out.exists():  # keep the candidates measured by earlier runs
        res["candidates"] = json.loads(args.out.read_text()).get("candidates", {})
    for name in args.candidates.split(","):
        res["candidates"][name] = _candidate(name, args.work, args.data_dir, speakers,
                                             args.files)
    res["note"] = ("choose on held_out_* (train speakers never trained on); dev_* only "
                   "reported. 2 CPU cores shared with other jobs: seconds are pessimistic")
    text = json.dumps(res, indent=2, default=float)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
