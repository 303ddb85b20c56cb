"""Fit ``probability_fake`` of the sync analysis on the ``train`` clips (never ``dev``).

Samples: every training clip with speech, whole and cut into 3-second segments, paired with its
own audio in sync (label 0), shifted by ``+-2..10`` frames (label 1) and with the audio of three
other training clips (label 1). Features per sample: the lag-0 mean logit, the peak mean logit
over lags ``[-15, 15]`` and ``|offset|``, each relative to the curve's median (see
:func:`analyse.fake_features`); a class-balanced
logistic regression maps them to a probability. Shifts are made exactly on the lag axis: delaying
the audio by ``k`` frames turns the curve at lag ``l`` into the unshifted curve at ``l - k``, so
one pass of the network at lags ``[-25, 25]`` serves every shift.

The network saw these clips in training, so the fitted probability is likely over-confident on
unseen people; ``bench/avsync.py`` measures it on ``dev``.

Run: ``python -m doppelab.detect.avsync.calibrate --data ../shared/data --weights syncnet.npz``
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from doppelab.core.storage import atomic_path
from doppelab.detect.avsync.analyse import MAX_LAG, curve_peak, fake_features
from doppelab.detect.avsync.dataset import cached_face_track, list_clips
from doppelab.detect.avsync.features import ClipFeatures, anchor_frames, clip_features, lag_logits
from doppelab.detect.avsync.net import SyncNet, load_weights, save_weights
from doppelab.detect.avsync.streams import AudioTrack, FaceTrack, read_audio

F64 = npt.NDArray[np.float64]
WIDE = MAX_LAG + 10
SHIFTS = tuple(k for k in range(-10, 11) if abs(k) >= 2)
SEGMENT_S = 3.0
_log = logging.getLogger(__name__)


def curve_features(logits: F64, rows: npt.NDArray[np.bool_]) -> list[float] | None:
    """:func:`analyse.fake_features` of the mean curve over ``rows`` (None when too few)."""
    sel = logits[rows]
    sel = sel[np.isfinite(sel).all(axis=1)]
    if len(sel) < 6:
        return None
    curve = sel.mean(axis=0)
    offset, _ = curve_peak(curve, MAX_LAG)
    return fake_features(curve, offset)


def _spans(feats: ClipFeatures) -> list[npt.NDArray[np.bool_]]:
    usable = anchor_frames(feats, MAX_LAG)
    n = round(SEGMENT_S * feats.fps)
    spans = [usable]
    for lo in range(0, len(usable) - n + 1, n):
        rows = np.zeros_like(usable)
        rows[lo : lo + n] = usable[lo : lo + n]
        spans.append(rows)
    return spans


def samples(
    model: SyncNet, clips: list[tuple[FaceTrack, AudioTrack]], rng: np.random.Generator
) -> tuple[F64, F64]:
    """Features ``(N, 3)`` and labels ``(N,)`` of in-sync, shifted and swapped pairs."""
    x: list[list[float]] = []
    y: list[int] = []
    for i, (track, audio) in enumerate(clips):
        f = clip_features(track, audio)
        wide = lag_logits(model, f, WIDE)
        cases = [(0, wide[:, WIDE - MAX_LAG : WIDE + MAX_LAG + 1])]
        cases += [(1, wide[:, WIDE - MAX_LAG - k : WIDE + MAX_LAG + 1 - k]) for k in SHIFTS]
        spans = [(label, logits, _spans(f)) for label, logits in cases]
        for j in rng.choice([j for j in range(len(clips)) if j != i], 3, replace=False):
            dubbed = clip_features(track, clips[int(j)][1])
            spans.append((1, lag_logits(model, dubbed, MAX_LAG), _spans(dubbed)))
        for label, logits, rows_list in spans:
            for rows in rows_list:
                row = curve_features(logits, rows)
                if row is not None:
                    x.append(row)
                    y.append(label)
    return np.asarray(x), np.asarray(y, np.float64)


def fit_logistic(x: F64, y: F64, steps: int = 3000, l2: float = 1e-3) -> tuple[F64, float]:
    """Class-balanced logistic regression by gradient descent on standardised features."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    w = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    coef, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ coef + bias)))
        g = w * (p - y)
        coef -= 0.5 * (z.T @ g + l2 * coef)
        bias -= 0.5 * float(g.sum())
    return coef / sd, bias - float((coef / sd) @ mu)


def calibrate(data: Path, weights: Path, cache: Path, seed: int = 0) -> dict[str, Any]:
    """Fit the calibration and write it into ``weights`` (meta ``calibration``)."""
    torch.set_num_threads(1)
    model, meta = load_weights(weights)
    clips = []
    for clip in list_clips(data, "train"):
        audio = read_audio(clip.path)
        if audio is not None and clip.name in meta.get("clips", []):
            clips.append((cached_face_track(clip.path, cache), audio))
    x, y = samples(model, clips, np.random.default_rng(seed))
    w, b = fit_logistic(x, y)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    cal = {"w": w.tolist(), "b": b,
           "features": ["lag0_minus_median", "peak_minus_lag0", "abs_offset"],
           "samples": len(y), "positives": int(y.sum()),
           "train_accuracy": float(((p > 0.5) == (y == 1)).mean())}
    meta["calibration"] = cal
    with atomic_path(weights) as tmp:
        save_weights(model, tmp, {k: v for k, v in meta.items() if k != "config"})
    return cal


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path(".cache/avsync"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(calibrate(args.data, args.weights, args.cache), indent=1))


if __name__ == "__main__":
    main()
