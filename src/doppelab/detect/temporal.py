"""The ``temporal`` detector: training-free anomaly scores of one face followed through a video.

Measurements (:func:`measure`) of a :class:`~doppelab.detect.base.TrackSeries`:

* ``blink_rate`` (blinks per minute) and ``blink_duration`` (seconds): from the eye aspect ratio
  (EAR); a blink is a run of frames with EAR under 70% of the clip's median EAR;
* ``pose_gap`` (degrees): mean angle between the head rotation fitted to the inner face (eyes,
  brows, nose, mouth) and the one fitted to the outer head (face oval, forehead, temples) —
  a pasted inner face that turns differently from its head shows here (Yang et al. 2019);
* ``pose_gap_jitter`` (degrees): frame-to-frame change of that gap;
* ``landmark_jitter``: mean second difference of the expression-stable landmarks over consecutive
  frames, in units of the face size (smooth motion is ~0, flicker is not);
* ``identity_jitter``: 1 - mean cosine similarity of the sampled identity embeddings to their mean.

Scoring: each measurement ``m`` is compared with its distribution over the real ``train`` clips of
the shared data set (``temporal.json``: median and robust spread of ``log`` or plain values), as a
one-sided z-score in the suspicious direction; the score is the root mean square of the positive
z-scores, and ``logit = (score - q95) / spread`` where ``q95`` is the 95th percentile of real
train clips' scores (so about 5% of real clips get probability > 0.5: a calibrated false-positive
rate, not a probability learned from fakes; none were available to this stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from doppelab.detect.base import Level, Output, TrackSeries, output, register
from doppelab.detect.shipped import TEMPORAL, read_json
from doppelab.extract.pose import mean_face, similarity_3d
from doppelab.extract.quality import eye_aspect_ratio
from doppelab.extract.topology import STABLE_POINTS, contours

F64 = npt.NDArray[np.float64]
NAMES = (
    "blink_rate",
    "blink_duration",
    "pose_gap",
    "pose_gap_jitter",
    "landmark_jitter",
    "identity_jitter",
)
# the suspicious direction of each measurement: +1 high, -1 low, 0 both; log: compare log values
DIRECTION = {
    "blink_rate": -1,
    "blink_duration": 0,
    "pose_gap": 1,
    "pose_gap_jitter": 1,
    "landmark_jitter": 1,
    "identity_jitter": 1,
}
LOG = {
    "blink_rate": False,
    "blink_duration": False,
    "pose_gap": True,
    "pose_gap_jitter": True,
    "landmark_jitter": True,
    "identity_jitter": True,
}
MIN_FRAMES = 8


def _inner_outer() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    c = contours()
    inner = np.unique(
        np.concatenate([c.right_eye, c.left_eye, c.right_brow, c.left_brow, c.lips_outer, c.nose])
    )
    outer = np.setdiff1d(np.unique(c.face_oval), inner)
    return inner, outer


def _rotation(points: F64, idx: npt.NDArray[np.int64]) -> F64:
    _, rot, _ = similarity_3d(mean_face()[idx].astype(np.float64), points[idx])
    return rot


def _angle(r1: F64, r2: F64) -> float:
    cos = (np.trace(r1.T @ r2) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def blinks(ear: F64, timestamps: F64) -> tuple[float, float]:
    """(blinks per minute, mean blink duration in s; NaN without blinks) from an EAR series."""
    if len(ear) < MIN_FRAMES:
        return float("nan"), float("nan")
    closed = ear < 0.7 * np.median(ear)
    edges = np.diff(np.r_[0, closed.astype(np.int64), 0])
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    dt = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 0.04
    minutes = max((timestamps[-1] - timestamps[0] + dt) / 60.0, 1e-6)
    durations = (ends - starts) * dt
    return len(starts) / minutes, float(durations.mean()) if len(durations) else float("nan")


def _consecutive(timestamps: F64) -> npt.NDArray[np.bool_]:
    """True at t where frames t-1, t, t+1 are evenly spaced (no tracking gap)."""
    d = np.diff(timestamps)
    if len(d) < 2:
        return np.zeros(0, bool)
    step = np.median(d)
    ok = np.abs(d - step) < 0.5 * step
    return ok[:-1] & ok[1:]


def measure(series: TrackSeries) -> dict[str, float]:
    """The named measurements of one track (NaN where not measurable)."""
    lm = series.landmarks.astype(np.float64)
    ts = np.asarray(series.timestamps, np.float64)
    out = dict.fromkeys(NAMES, float("nan"))
    if len(lm) >= MIN_FRAMES:
        out["blink_rate"], out["blink_duration"] = blinks(
            np.array([eye_aspect_ratio(x.astype(np.float32)) for x in lm]), ts
        )
        inner, outer = _inner_outer()
        gaps = np.array([_angle(_rotation(x, inner), _rotation(x, outer)) for x in lm])
        out["pose_gap"] = float(gaps.mean())
        out["pose_gap_jitter"] = float(np.abs(np.diff(gaps)).mean())
        ok = _consecutive(ts)
        if ok.any():
            st = lm[:, list(STABLE_POINTS), :2]
            size = np.ptp(lm[:, :468, :2], axis=1).max(axis=1)
            second = np.abs(st[1:-1] - 0.5 * (st[:-2] + st[2:])).mean(axis=(1, 2)) / size[1:-1]
            out["landmark_jitter"] = float(second[ok].mean())
    emb = np.asarray(series.embeddings, np.float64)
    if len(emb) >= 2:
        m = emb.mean(axis=0)
        m /= max(float(np.linalg.norm(m)), 1e-12)
        out["identity_jitter"] = float(1.0 - (emb @ m).mean())
    return out


def _z(name: str, value: float, stats: dict[str, Any]) -> float:
    if not np.isfinite(value):
        return 0.0
    v = np.log(max(value, 1e-9)) if LOG[name] else value
    z = (v - stats["median"]) / max(stats["spread"], 1e-9)
    d = DIRECTION[name]
    return float(abs(z) if d == 0 else max(d * z, 0.0))


def anomaly(meas: dict[str, float], stats: dict[str, Any]) -> tuple[float, F64]:
    """(root-mean-square excess z-score over 1, per-measurement z) against real statistics."""
    z = np.array([_z(n, meas[n], stats["features"][n]) for n in NAMES])
    excess = np.maximum(z - 1.0, 0.0)
    return float(np.sqrt((excess**2).mean())), z


def fit_stats(measurements: list[dict[str, float]]) -> dict[str, Any]:
    """Median / robust spread (1.4826 MAD, floored) of each measurement over real tracks, and the
    95th percentile and spread of the resulting anomaly score."""
    feats: dict[str, Any] = {}
    for n in NAMES:
        v = np.array([m[n] for m in measurements], np.float64)
        v = v[np.isfinite(v)]
        if LOG[n]:
            v = np.log(np.maximum(v, 1e-9))
        med = float(np.median(v)) if len(v) else 0.0
        mad = float(1.4826 * np.median(np.abs(v - med))) if len(v) else 1.0
        feats[n] = {"median": med, "spread": max(mad, 0.1 * abs(med), 1e-3), "n": len(v)}
    stats: dict[str, Any] = {"features": feats}
    scores = np.array([anomaly(m, stats)[0] for m in measurements])
    stats["q95"] = float(np.quantile(scores, 0.95)) if len(scores) else 1.0
    stats["spread"] = float(max(scores.std(), 0.1)) if len(scores) else 1.0
    return stats


@register("temporal")
@dataclass
class TemporalDetector:
    """Blink, head-pose-consistency and jitter anomaly of one track; ``path`` overrides the
    shipped real-clip statistics (``temporal.json``)."""

    name: ClassVar[str] = "temporal"
    level: ClassVar[Level] = "track"
    path: str | Path | None = None
    stats: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.stats = read_json(TEMPORAL, self.path)

    def forward(self, series: TrackSeries) -> Output:
        meas = measure(series)
        score, z = anomaly(meas, self.stats)
        logit = (score - self.stats["q95"]) / self.stats["spread"]
        feats = np.r_[[meas[n] for n in NAMES], z]
        return output([logit], feats[None])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "measurements": list(NAMES)}
