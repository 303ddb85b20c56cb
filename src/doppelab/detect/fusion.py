"""Fusion of the detectors into one calibrated probability.

Face level: ``logit = b + sum_i w_i * logit_i`` over the face detectors (``blend``,
``frequency``), a logistic regression fitted on the calibration part of train (held-out
identities, real faces vs self-blended fakes with the shared degradations; 50/50 prior), so its
sigmoid is a calibrated probability on that distribution (Platt scaling folded in).

Video level: the mean of the per-frame logits (a frame's logit is its most suspicious face),
plus ``temporal_weight * clip(temporal_logit, 0, temporal_cap)``: the temporal detector is an
anomaly score calibrated on real clips only, so it may raise suspicion but never vouch for a
video, and, never having been validated against fake videos, its pull is bounded (at most
``temporal_weight * temporal_cap`` logits: it can tip a borderline video, not overturn a
confident face-level score). Weight and cap are set by hand and written in ``fusion.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.detect.base import sigmoid
from doppelab.detect.frequency import fit_logistic
from doppelab.detect.shipped import FUSION, read_json

F32 = npt.NDArray[np.float32]
FACE_DETECTORS = ("blend", "frequency")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fusion:
    """Weights of the face-level logistic fusion and the video-level rule."""

    weights: dict[str, float] = field(default_factory=lambda: {"blend": 1.0, "frequency": 0.0})
    bias: float = 0.0
    temporal_weight: float = 0.5
    temporal_cap: float = 2.0
    margin: float = 0.15  # |p - 0.5| below this is "inconclusive"
    fitted_on: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> Fusion:
        data = read_json(FUSION, path)
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def face_logits(self, logits: dict[str, F32]) -> F32:
        """Fused, calibrated face logits from each face detector's ``(N,)`` logits (a detector
        that is absent contributes nothing)."""
        n = len(next(iter(logits.values()))) if logits else 0
        out = np.full(n, self.bias, np.float64)
        for name, w in self.weights.items():
            if name in logits:
                out += w * np.asarray(logits[name], np.float64)
        return np.asarray(out, np.float32)

    def video_logit(self, frame_logits: npt.ArrayLike, temporal_logit: float | None) -> float:
        """Mean frame logit plus the temporal detector's positive excess (see module doc)."""
        fl = np.asarray(frame_logits, np.float64)
        base = float(fl.mean()) if len(fl) else 0.0
        if temporal_logit is not None and np.isfinite(temporal_logit):
            base += self.temporal_weight * min(max(float(temporal_logit), 0.0), self.temporal_cap)
        return base

    def probability(self, logit: npt.ArrayLike) -> F32:
        return sigmoid(logit)


def fit_fusion(
    logits: dict[str, npt.NDArray[np.floating[Any]]],
    labels: npt.ArrayLike,
    l2: float = 1e-3,
    **extra: Any,
) -> Fusion:
    """Fit the face-level weights (unstandardised, so they apply to raw detector logits)."""
    names = [n for n in FACE_DETECTORS if n in logits]
    x = np.stack([np.asarray(logits[n], np.float64) for n in names], axis=1)
    clf = fit_logistic(x, labels, l2=l2)
    w = clf.w / clf.std
    b = clf.b - float((clf.mean / clf.std) @ clf.w)
    return Fusion(weights={n: float(v) for n, v in zip(names, w, strict=True)}, bias=b, **extra)
