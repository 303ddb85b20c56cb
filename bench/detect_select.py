"""Held-out selection of the frequency classifier's training set (docs/detect.md, session 13).

Fits the frequency MLP (``frequency.fit_mlp``, seed 0) on two training sets of the non-holdout
train identities and compares them on held-out train identities only (``dev`` is not read):

* ``degraded``: the previous recipe (2 degraded rounds of reals + self-blends, pair-2's swaps vs
  marked reals, degraded);
* ``degraded+undegraded``: ``recipe.frequency_fit_set`` (the same plus one undegraded round).

Measured for each: face AUC of ``frequency`` on held-out identities' reals vs self-blends
(``pair_set(seed=31)``, degraded 2 rounds and undegraded 1 round) and on the held-out pair-1's
swaps vs its marked reals (``swap_pair_set(seed=32)``, degraded and undegraded); the fusion with
BlendNet's logit by grouped 5-fold cross-validation over the held-out identities with pair-1 as
a sixth fold (face AUC, per-identity AUC = mean logit per identity, round and class, pair-1
faces); and the *per-person offset*: the std over held-out identities (those with >= 4 real
faces) of their median real-face logit, over the median shift from an identity's real to its
fake faces (lower = the score depends less on who it is).

Usage: python bench/detect_select.py --work WORK [--out bench/results/detect_select.json]
(``WORK`` is a ``detect-train`` work folder with train_table.npz and swap_table.npz; features
are cached in ``WORK/select_features.npz``.) About 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.storage import atomic_write_text
from doppelab.detect.base import FaceBatch
from doppelab.detect.blend import BlendDetector
from doppelab.detect.data import FaceTable, read_table
from doppelab.detect.frequency import features, fit_logistic, fit_mlp
from doppelab.detect.metrics import roc_auc
from doppelab.detect.recipe import PAIR_CHUNK, join_pairs, pair_set, swap_pair_set
from doppelab.detect.swapfakes import read_swap_table


def _identities(table: FaceTable, rounds: int) -> np.ndarray:
    """Identity of each row of ``pair_set(table, rounds=...)`` (reals then fakes per chunk)."""
    out: list[str] = []
    for _ in range(rounds):
        for s in range(0, len(table), PAIR_CHUNK):
            part = list(table.identity[s : s + PAIR_CHUNK])
            out += part + part
    return np.array(out)


def build(work: Path) -> dict[str, np.ndarray]:
    """Features, labels, identities and BlendNet logits of every set (cached)."""
    cache = work / "select_features.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    table, swaps = read_table(work / "train_table.npz"), read_swap_table(work / "swap_table.npz")
    hold = table.subset(table.holdout)
    fit = table.subset(~table.holdout)
    blend = BlendDetector(threads=1)
    sets = {
        "fit_degraded": join_pairs(pair_set(fit, 11, 2), swap_pair_set(swaps, False, 14)),
        "fit_undegraded": join_pairs(
            pair_set(fit, 11, 1, aug=False), swap_pair_set(swaps, False, 14, aug=False)
        ),
        "hold": pair_set(hold, 31, 2),
        "hold_clean": pair_set(hold, 31, 1, aug=False),
        "swap": swap_pair_set(swaps, True, 32),
        "swap_clean": swap_pair_set(swaps, True, 32, aug=False),
    }
    out: dict[str, np.ndarray] = {}
    for name, (faces, y) in sets.items():
        out[f"{name}_x"] = features(faces.crops, faces.landmarks)
        out[f"{name}_y"] = y
        if not name.startswith("fit"):
            batch = FaceBatch(crops=faces.crops, landmarks=faces.landmarks)
            out[f"{name}_blend"] = blend.forward(batch)["logits"]
        print(name, len(y), flush=True)
    # recipe.frequency_fit_set: the degraded faces, then the undegraded ones
    for k in ("x", "y"):
        out[f"fit_all_{k}"] = np.concatenate([out[f"fit_degraded_{k}"], out[f"fit_undegraded_{k}"]])
    out["hold_id"], out["hold_round"] = _identities(hold, 2), np.repeat([0, 1], len(hold) * 2)
    out["hold_clean_id"] = _identities(hold, 1)
    np.savez(cache, **out)
    return out


def offset(score: np.ndarray, y: np.ndarray, ident: np.ndarray) -> float:
    """Per-person offset: std of per-identity median real score / median real-to-fake shift."""
    meds, shift = [], []
    for i in np.unique(ident):
        r, f = score[(ident == i) & (y == 0)], score[(ident == i) & (y == 1)]
        if len(r) >= 4 and len(f):
            meds.append(np.median(r))
            shift.append(np.median(f) - np.median(r))
    return float(np.std(meds) / max(float(np.median(shift)), 1e-6))


def per_identity_auc(score: np.ndarray, d: dict[str, np.ndarray]) -> float:
    """AUC of the mean score per (identity, round, class) of the held-out set."""
    y, ident, rnd = d["hold_y"], d["hold_id"], d["hold_round"]
    keys = sorted(set(zip(ident, rnd, y.astype(int), strict=True)))
    means = [score[(ident == i) & (rnd == r) & (y == c)].mean() for i, r, c in keys]
    return roc_auc([k[2] for k in keys], means)


def fused_cv(freq: np.ndarray, freq_swap: np.ndarray, d: dict[str, np.ndarray]) -> dict[str, Any]:
    """Blend + frequency logistic fusion, grouped 5-fold CV over held-out identities; pair-1's
    swaps are a sixth fold (so their score comes from a fusion fitted without them)."""
    x = np.r_[np.c_[d["hold_blend"], freq], np.c_[d["swap_blend"], freq_swap]]
    y = np.r_[d["hold_y"], d["swap_y"]]
    ids = sorted(set(d["hold_id"]))
    fold = np.r_[[ids.index(i) % 5 for i in d["hold_id"]], np.full(len(freq_swap), 5)]
    pred = np.zeros(len(y))
    for f in range(6):
        test = fold == f
        pred[test] = fit_logistic(x[~test], y[~test], l2=1e-3).logits(x[test])
    h = pred[: len(freq)]
    return {
        "face_auc": roc_auc(d["hold_y"], h),
        "per_identity_auc": per_identity_auc(h, d),
        "pair1_face_auc": roc_auc(d["swap_y"], pred[len(freq) :]),
        "per_person_offset": offset(h, d["hold_y"], d["hold_id"]),
    }


def evaluate(d: dict[str, np.ndarray], fit: str) -> dict[str, Any]:
    clf = fit_mlp(d[f"{fit}_x"], d[f"{fit}_y"])
    s = {k: clf.logits(d[f"{k}_x"]) for k in ("hold", "hold_clean", "swap", "swap_clean")}
    return {
        "fit_faces": len(d[f"{fit}_y"]),
        "frequency": {
            "hold_face_auc": roc_auc(d["hold_y"], s["hold"]),
            "hold_undegraded_face_auc": roc_auc(d["hold_clean_y"], s["hold_clean"]),
            "pair1_face_auc": roc_auc(d["swap_y"], s["swap"]),
            "pair1_undegraded_face_auc": roc_auc(d["swap_clean_y"], s["swap_clean"]),
            "per_identity_auc": per_identity_auc(s["hold"], d),
            "per_person_offset": offset(s["hold"], d["hold_y"], d["hold_id"]),
        },
        "fused_cv": fused_cv(s["hold"], s["swap"], d),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect_select.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    d = build(args.work)
    report: dict[str, Any] = {fit: evaluate(d, fit) for fit in ("fit_degraded", "fit_all")}
    report["blend_per_person_offset"] = offset(d["hold_blend"], d["hold_y"], d["hold_id"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
