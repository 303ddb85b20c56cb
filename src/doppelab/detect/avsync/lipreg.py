"""A linear audio-to-mouth model: how far open the mouth should be, predicted from the sound.

A ridge regression maps the log-mel energies around a video frame (``BANDS`` bands pooled from
:func:`signals.log_mel`, every ``STEP_MS`` over ``+-CONTEXT_MS``) to the clip-standardised inner-lip
opening at that frame (:func:`signals.mouth_opening`). It has a few hundred weights instead of the
sync network's hundreds of thousands, so it transfers to unseen people where the network (trained
on 15 clips) overfits. Its lag curve is the correlation, over the anchor frames, between the
mouth opening the video shows and the one predicted from the audio taken ``lag`` frames later:
the peak lag is the offset (``> 0`` = audio late, as everywhere in this package).

Trained only on ``train`` clips by :mod:`doppelab.detect.avsync.lipreg_fit`; the decision fit
(:mod:`doppelab.detect.avsync.decide`) for the combined curve travels in the same file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.storage import atomic_write_npz
from doppelab.detect.avsync.features import ClipFeatures, anchor_frames
from doppelab.detect.avsync.signals import MEL_RATE, N_MELS

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
CONTEXT_MS = 200
STEP_MS = 20
BANDS = 8
ALPHA = 1000.0
MIN_ROWS = 20
LIPREG_WEIGHTS = Path(__file__).with_name("weights") / "lipreg.npz"


def _bands(mel: npt.NDArray[np.float32]) -> F64:
    """``(M, BANDS)``: the ``N_MELS`` log-mel bands averaged in ``BANDS`` equal groups."""
    return np.asarray(mel, np.float64).reshape(len(mel), BANDS, N_MELS // BANDS).mean(axis=2)


def design(feats: ClipFeatures, lag: int, bands: F64 | None = None) -> F64:
    """``(T, n_inputs)`` model inputs of every video frame, with the audio taken ``lag`` frames
    later (NaN rows where the context leaves the audio). ``bands``: :func:`_bands` of the clip's
    mel when the caller already has it."""
    b = _bands(feats.mel) if bands is None else bands
    offsets = np.arange(-CONTEXT_MS, CONTEXT_MS + 1, STEP_MS) / 1000.0
    t = feats.times[:, None] + lag / feats.fps + offsets[None, :]
    pos = (t - feats.mel_start) * MEL_RATE
    i0 = np.floor(pos).astype(np.int64)
    inside = (i0 >= 0) & (i0 + 1 < len(b))
    safe = np.clip(i0, 0, max(len(b) - 2, 0))
    w = (pos - i0)[..., None]
    if len(b) < 2:
        return np.full((len(feats.times), len(offsets) * BANDS), np.nan)
    x = b[safe] * (1.0 - w) + b[safe + 1] * w
    x[~inside] = np.nan
    return np.asarray(x.reshape(len(feats.times), -1))


def _standard(x: F64) -> F64:
    return np.asarray((x - np.nanmean(x)) / max(float(np.nanstd(x)), 1e-9))


@dataclass(frozen=True, slots=True)
class LipReg:
    """Input means and spreads, ridge weights and the decision fit of the combined curve."""

    x_mean: F64
    x_std: F64
    weights: F64
    decision: dict[str, Any] | None = None

    def predictions(self, feats: ClipFeatures, max_lag: int) -> F64:
        """``(2 * max_lag + 1, T)``: the mouth opening predicted for every frame from the audio
        taken ``lag`` frames later, one row per lag in ``[-max_lag, max_lag]``; NaN where the
        context leaves the audio. Computed once per clip, whatever the rows later compared."""
        bands = _bands(feats.mel)
        out = np.full((2 * max_lag + 1, len(feats.times)), np.nan)
        for k, lag in enumerate(range(-max_lag, max_lag + 1)):
            x = design(feats, lag, bands)
            ok = np.isfinite(x).all(axis=1)
            out[k, ok] = ((x[ok] - self.x_mean) / self.x_std) @ self.weights
        return out

    def curve(self, feats: ClipFeatures, rows: B, max_lag: int,
              predictions: F64 | None = None) -> F64 | None:
        """``(2 * max_lag + 1,)`` correlation of predicted and seen mouth opening at each lag over
        ``rows``; None when a lag has fewer than ``MIN_ROWS`` usable frames or no variation.
        ``predictions``: :meth:`predictions` of the clip when the caller already has them (a
        clip's sliding windows share them)."""
        pred_all = self.predictions(feats, max_lag) if predictions is None else predictions
        mouth = feats.mouth
        out = []
        for pred_lag in pred_all:
            ok = rows & np.isfinite(pred_lag) & np.isfinite(mouth)
            if ok.sum() < MIN_ROWS:
                return None
            pred, seen = pred_lag[ok], mouth[ok]
            if pred.std() < 1e-9 or seen.std() < 1e-12:
                return None
            out.append(float(np.corrcoef(pred, seen)[0, 1]))
        return np.asarray(out)

    def save(self, path: Path) -> None:
        """Write the model (and its decision fit) to ``path`` (``.npz``, atomically)."""
        atomic_write_npz(path, x_mean=self.x_mean, x_std=self.x_std, weights=self.weights,
                         meta=np.asarray(json.dumps({
                             "context_ms": CONTEXT_MS, "step_ms": STEP_MS, "bands": BANDS,
                             "decision": self.decision})))

    @classmethod
    def load(cls, path: Path) -> LipReg:
        """Read a model written by :meth:`save`.

        Raises:
            UsageError: missing or damaged file, or a file made with other input settings.
        """
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                model = cls(x_mean=z["x_mean"].astype(np.float64),
                            x_std=z["x_std"].astype(np.float64),
                            weights=z["weights"].astype(np.float64),
                            decision=meta.get("decision"))
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"cannot read the lip regression weights {path}: {exc}") from None
        if (meta.get("context_ms"), meta.get("step_ms"), meta.get("bands")) != (
                CONTEXT_MS, STEP_MS, BANDS) or model.weights.shape != model.x_mean.shape:
            raise UsageError(f"lip regression weights {path} do not match this version's inputs")
        return model


def fit_lipreg(clips: Sequence[ClipFeatures], max_lag: int, alpha: float = ALPHA) -> LipReg:
    """Ridge fit on the anchor frames (:func:`features.anchor_frames`) of in-sync clips; the
    target is each clip's mouth opening standardised within the clip.

    Raises:
        UsageError: no clip has ``MIN_ROWS`` usable frames.
    """
    xs, ys = [], []
    for feats in clips:
        x = design(feats, 0)
        ok = anchor_frames(feats, max_lag) & np.isfinite(x).all(axis=1) & np.isfinite(feats.mouth)
        if ok.sum() >= MIN_ROWS:
            xs.append(x[ok])
            ys.append(_standard(feats.mouth[ok]))
    if not xs:
        raise UsageError("no clip has enough frames with a face and speech to fit on")
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    xn = (x - mean) / std
    w = np.linalg.solve(xn.T @ xn + alpha * np.eye(x.shape[1]), xn.T @ y)
    return LipReg(x_mean=mean, x_std=std, weights=w)


def combine(curves: Sequence[F64]) -> F64:
    """Mean of the curves after standardising each over its lags (so a correlation curve and a
    logit curve count alike)."""
    return np.asarray(np.mean([(c - c.mean()) / max(float(c.std()), 1e-9) for c in curves],
                              axis=0))
