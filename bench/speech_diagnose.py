"""Why a fake family is missed: which feature groups separate it from real speech when it *is*
trained on, and where it lies relative to real speech and the other families (train speakers
only; dev is never looked at).

For each family: a logistic regression per feature group (spectral envelope, fine structure,
sub-band coherence, prosody), trained on two of three train-speaker folds (real against that
family only) and measured on the third (EER, mean over folds). Then, per family, the median of
each prosody statistic minus real speech's median, in standard deviations of real speech.

Reads the recipe's cached train features with the prosody statistics
(``WORK/features-v3-train.npz``, ``WORK/prosody-p2-train.npz``; made when missing).

Usage: python bench/speech_diagnose.py --work WORK [--data-dir ../shared/data]
       [--families espeak,flite] [--out bench/results/speech_diagnose.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.storage import atomic_write_text
from doppelab.detect.frequency import fit_logistic
from doppelab.detect.metrics import eer
from doppelab.detect.speech_data import FAMILIES
from doppelab.detect.speech_phase import N_WINDOW_FEATURES
from doppelab.detect.speech_prosody import N_PROSODY
from doppelab.detect.train_speech import PSEUDO_FAMILY, features
from speech_select import speaker_folds

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {"envelope_mean": (0, 32), "envelope_std": (32, 64), "envelope_change": (64, 96),
          "envelope_spread": (96, 128), "fine_std": (128, 160), "fine_change": (160, 192),
          "coherence_depth": (192, 200), "coherence_1": (200, 207), "coherence_2": (207, 213),
          "coherence_kurtosis": (213, 221),
          "prosody": (N_WINDOW_FEATURES, N_WINDOW_FEATURES + N_PROSODY)}
PROSODY = ("voiced", "periodicity_mean", "periodicity_std", "periodicity_p90",
           "periodicity_over_0.9", "periodicity_all", "log_period_std", "jitter_median",
           "jitter_mean", "period_d2_median", "flat_steps", "shimmer_median", "shimmer_mean",
           "level_d2_median")


def group_eers(x: np.ndarray, y: np.ndarray, fam: np.ndarray, fold: np.ndarray,
               target: str) -> dict[str, float]:
    """Mean-over-folds EER of a logistic regression per feature group, real vs ``target``."""
    out = {}
    for name, (a, b) in GROUPS.items():
        errs = []
        for k in np.unique(fold):
            pick = np.isin(fam, ["real", target])
            tr, te = pick & (fold != k), pick & (fold == k)
            clf = fit_logistic(x[tr][:, a:b].astype(np.float64), y[tr], l2=1e-2)
            errs.append(eer(y[te], clf.logits(x[te][:, a:b].astype(np.float64))))
        out[name] = round(float(np.mean(errs)), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the detect-train --audio work dir")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--families", default="espeak,flite,festival,world,lpc")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / "speech_diagnose.json")
    args = ap.parse_args()
    x, y, fam_l, groups = features(args.work, "train", prosody=True)
    fam = np.array(fam_l)
    fold = speaker_folds(args.data_dir, groups)
    res: dict[str, Any] = {"group_eer_when_trained_on": {}, "prosody_shift_in_real_sd": {}}
    for target in args.families.split(","):
        res["group_eer_when_trained_on"][target] = group_eers(x, y, fam, fold, target)
        print(target, json.dumps(res["group_eer_when_trained_on"][target]), flush=True)
    real = x[fam == "real"][:, N_WINDOW_FEATURES:]
    sd = real.std(axis=0) + 1e-9
    for f in [*FAMILIES[1:], PSEUDO_FAMILY]:
        fake = x[fam == f][:, N_WINDOW_FEATURES:]
        shift = (np.median(fake, axis=0) - np.median(real, axis=0)) / sd
        res["prosody_shift_in_real_sd"][f] = {n: round(float(v), 2)
                                              for n, v in zip(PROSODY, shift, strict=True)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
    print(json.dumps(res["prosody_shift_in_real_sd"], indent=1))


if __name__ == "__main__":
    main()
