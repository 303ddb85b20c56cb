"""How the speech detector's front end and recipe were chosen: leave-one-family-out on *train*
speakers only (dev is never looked at).

Train speakers (and TTS sentences) are hashed into 3 folds. For every fake family F and fold k a
model is trained on the train windows of the other folds without family F, and measured on
fold k: real windows against F's windows (EER). Reported per family as the mean over folds, with
the mean and the worst family, for each variant:

* ``magnitude``: the 192 magnitude statistics (the first recipe);
* ``magnitude+phase``: plus the 29 phase-sensitive statistics (``speech_phase``);
* ``magnitude+pseudo``: magnitude statistics, with the phase-jitter pseudo-fakes in training;
* ``magnitude+phase+pseudo``: both (the recipe of the second model).

The later variants train as the recipe does now, on everything it trains on (channel copies
and the codec twins of ``speech_pairs`` too) and are measured on fold k's original, low-passed
and channel-copied windows (never on twins or extra families):

* ``twins``: the model of the third recipe (magnitude + phase statistics, pseudo-fakes,
  channel copies, codec twins);
* ``twins+prosody``: plus the pitch / micro-prosody statistics (``speech_prosody``);
* ``twins+extra``: plus the extra generators of ``speech_extra`` as training material (a
  left-out family's variants are left out with it);
* ``twins+prosody+extra``: both;
* ``...+density``: the MLP fused with a real-speech Gaussian density of the phase (and prosody)
  statistics (``SpeechTrainConfig.density_weight`` 0.5, :class:`~doppelab.detect.speech_model.
  FusedSpeech`); ``twins+prosody+extra+density`` is the recipe of the fourth model;
* the same variant on a work dir that also has the ``istft`` vocoder's shards (the fifth
  recipe: ``--as twins+prosody+extra+density+istft``); istft is then a family to leave out too;
* ``twins+prosody+extra+density+rooms``: the current recipe, a quarter of the channel copies
  through a synthetic room (``SpeechRecipe.rooms``).

``--clean-test`` measures on fold k's original and low-passed windows only (key suffix
``@clean``): the channel copies differ between recipes with and without rooms, so only the
clean rows compare them on the same windows.

Pseudo-fakes of fold k's speakers are never trained on in fold k. Reads the window features the
recipe cached (``WORK/features-v3-*.npz``, ``WORK/prosody-*.npz``, made by
``doppelab detect-train --audio``; made here when missing). The CPU is shared, so the printed
seconds are pessimistic.

Usage: python bench/speech_select.py --work WORK [--data-dir ../shared/data] [--steps 1000]
       [--batch 64] [--variants magnitude,magnitude+phase+pseudo]
       [--as NAME] [--out bench/results/speech_select.json]
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
from doppelab.detect.speech_extra import EXTRA_FAMILIES, left_out_with
from doppelab.detect.speech_features import N_FEATURES
from doppelab.detect.speech_model import SpeechTrainConfig, fit_fused, predict_logits
from doppelab.detect.speech_pairs import codec_pair_features
from doppelab.detect.train_speech import PSEUDO_FAMILY, features, with_codec_pairs

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("magnitude", "magnitude+phase", "magnitude+pseudo", "magnitude+phase+pseudo",
            "twins", "twins+prosody", "twins+extra", "twins+prosody+extra", "twins+density",
            "twins+prosody+density", "twins+prosody+extra+density",
            "twins+prosody+extra+density+rooms")


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
               cfg: SpeechTrainConfig, testable: np.ndarray | None = None) -> dict[str, float]:
    """Mean-over-folds EER per left-out family, plus ``mean`` and ``max``; only rows where
    ``testable`` is True are measured."""
    out: dict[str, float] = {}
    ok = np.ones(len(y), bool) if testable is None else testable
    for left in [f for f in FAMILIES[1:] if f in set(fam)]:
        errs = []
        for k in np.unique(fold):
            train = (fold != k) & ~np.isin(fam, left_out_with(left))
            test = (fold == k) & ok & ((fam == "real") | (fam == left))
            model = fit_fused(x[train], y[train], cfg)
            errs.append(eer(y[test], predict_logits(model, x[test])))
        out[left] = float(np.mean(errs))
    vals = list(out.values())
    out["mean"], out["max"] = float(np.mean(vals)), float(np.max(vals))
    return out


def recipe_rows(work: Path, extra: tuple[str, ...], prosody: bool, rooms: bool = False,
                clean: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The train rows of the current recipe: x, y, family, group and whether a row may be
    measured (not a codec twin, not an extra family; with ``clean`` not a channel copy either,
    so recipes whose channel copies differ, such as ``rooms``, are measured on the same rows)."""
    tr = features(work, "train", True, extra, prosody, rooms)
    twins = codec_pair_features(work, extra=extra, prosody=prosody)
    (x, y, fam, groups), _ = with_codec_pairs(tr, twins)
    n = len(tr[1])
    last = n // 2 if clean else n  # the channel copies are the second half of the train rows
    testable = (np.arange(len(y)) < last) & ~np.isin(np.array(fam), list(EXTRA_FAMILIES))
    return x, y, np.array(fam), groups, testable


def run_recipe_variant(args: argparse.Namespace, name: str) -> dict[str, float]:
    """One ``twins...`` variant on train-speaker folds."""
    extra = tuple(EXTRA_FAMILIES) if "extra" in name else ()
    x, y, fam, groups, testable = recipe_rows(args.work, extra, "prosody" in name,
                                              "rooms" in name, args.clean_test)
    fold = speaker_folds(args.data_dir, groups)
    cfg = SpeechTrainConfig(steps=args.steps, batch=args.batch,
                            density_weight=0.5 if "density" in name else 0.0)
    return inner_lofo(x, y, fam, fold, cfg, testable)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the detect-train --audio work dir")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=1000, help="MLP steps per model (default 1000)")
    ap.add_argument("--batch", type=int, default=64, help="MLP batch (default 64)")
    ap.add_argument("--variants", default=",".join(VARIANTS[:4]))
    ap.add_argument("--as", dest="label", help="store a single twins... variant's result under "
                    "this name (e.g. when WORK holds more families than before)")
    ap.add_argument("--clean-test", action="store_true",
                    help="twins... variants: measure only original and low-passed windows, not "
                    "their channel copies (key suffix @clean)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speech_select.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if args.label and (len(names) != 1 or not names[0].startswith("twins")):
        raise SystemExit("--as names the result of a single twins... variant")
    res: dict[str, Any] = {"folds": 3, "steps": args.steps, "batch": args.batch, "variants": {}}
    if not all(n.startswith("twins") for n in names):  # the first recipes' features
        x, y, fam_l, groups = features(args.work, "train")
        fam = np.array(fam_l)
        fold = speaker_folds(args.data_dir, groups)
        cfg = SpeechTrainConfig(steps=args.steps, batch=args.batch)
        res["windows"] = len(y)
    if args.out.exists():  # keep what earlier runs measured (their settings stay at the top)
        res = json.loads(args.out.read_text())
        res.setdefault("variants", {})
    for name in names:
        t0 = time.perf_counter()
        if name.startswith("twins"):
            r = run_recipe_variant(args, name)
            key = (args.label or name) + ("@clean" if args.clean_test else "")
            res["variants"][key] = {**r, "steps": args.steps, "batch": args.batch,
                                    "seconds": round(time.perf_counter() - t0, 1)}
            print(key, json.dumps(res["variants"][key]), flush=True)
            continue
        keep = np.ones(len(y), bool) if "pseudo" in name else fam != PSEUDO_FAMILY
        cols = slice(None) if "phase" in name else slice(0, N_FEATURES)
        r = inner_lofo(x[keep][:, cols], y[keep], fam[keep], fold[keep], cfg)
        res["variants"][name] = {**r, "seconds": round(time.perf_counter() - t0, 1)}
        print(name, json.dumps(res["variants"][name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
