"""Training-free offset estimate: cross-correlation of mouth opening and speech energy.

Convention: a lag ``k`` pairs video frame ``t`` with audio frame ``t + k``; the best lag is the
offset, positive when the audio is late (see :mod:`doppelab.detect.avsync.types`). Both signals
are high-passed (a centred moving average of about one second is subtracted) so slow changes of
level, distance to the camera or loudness do not count, then Pearson-correlated at every lag in
``[-max_lag, max_lag]`` over the frames where both are defined. The peak is refined by a parabola
through its neighbours (sub-frame offsets). Confidence = peak score - median score over all lags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.detect.avsync.signals import centred_sum

F64 = npt.NDArray[np.float64]
MAX_LAG = 15
MIN_OVERLAP = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class LagCurve:
    """Scores ``(2 * max_lag + 1,)`` for lags ``-max_lag..max_lag`` and the frames they used."""

    scores: F64
    max_lag: int
    support: int


def highpass(x: F64, width: int) -> F64:
    """``x`` minus its centred moving average over ``width`` frames (NaN-aware; NaN stays NaN)."""
    width = max(1, int(width) | 1)
    ok = np.isfinite(x)
    filled = np.where(ok, x, 0.0)
    total = centred_sum(filled, width)
    count = centred_sum(ok, width)
    mean = total / np.maximum(count, 1.0)
    return np.where(ok, x - mean, np.nan)


def lag_curve(
    video: F64, audio: F64, max_lag: int = MAX_LAG, span: tuple[int, int] | None = None
) -> LagCurve:
    """Pearson correlation of ``video[t]`` with ``audio[t + k]`` for each lag ``k``.

    Shape: ``video`` and ``audio`` are ``(T,)`` on the same frame clock (NaN = undefined).
    ``span = (a, b)`` limits ``t`` to ``a <= t < b`` (the audio may come from outside it).
    Lags whose overlap has fewer than :data:`MIN_OVERLAP` frames score 0.

    Raises:
        UsageError: shapes differ or ``max_lag < 1``.
    """
    if video.shape != audio.shape or video.ndim != 1 or max_lag < 1:
        raise UsageError(f"need two equal 1-D signals and max_lag >= 1, got {video.shape}, "
                         f"{audio.shape}, {max_lag}")
    n = len(video)
    lo, hi = span if span is not None else (0, n)
    scores = np.zeros(2 * max_lag + 1)
    support = 0
    for j, k in enumerate(range(-max_lag, max_lag + 1)):
        t0, t1 = max(lo, -k), min(hi, n - k)
        if t1 - t0 < MIN_OVERLAP:
            continue
        v, a = video[t0:t1], audio[t0 + k : t1 + k]
        ok = np.isfinite(v) & np.isfinite(a)
        if ok.sum() < MIN_OVERLAP:
            continue
        vv, aa = v[ok] - v[ok].mean(), a[ok] - a[ok].mean()
        denom = float(np.sqrt((vv * vv).sum() * (aa * aa).sum()))
        scores[j] = float((vv * aa).sum()) / denom if denom > 0 else 0.0
        support = max(support, int(ok.sum()))
    return LagCurve(scores=scores, max_lag=max_lag, support=support)


def peak(curve: LagCurve) -> tuple[float, float]:
    """``(offset_frames, confidence)`` of a lag curve (parabolic sub-frame peak; peak - median)."""
    s = curve.scores
    j = int(np.argmax(s))
    off = float(j - curve.max_lag)
    if 0 < j < len(s) - 1:
        den = s[j - 1] - 2.0 * s[j] + s[j + 1]
        if den < 0:
            off += float(np.clip(0.5 * (s[j - 1] - s[j + 1]) / den, -0.5, 0.5))
    return off, float(s[j] - np.median(s))


def window_spans(n: int, fps: float, window_s: float, hop_s: float) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` of sliding windows over ``n`` frames; one window if the clip is
    shorter than ``window_s``; the last window ends at the clip's end."""
    w = max(2, round(window_s * fps))
    h = max(1, round(hop_s * fps))
    if n <= w:
        return [(0, n)]
    starts = list(range(0, n - w + 1, h))
    if starts[-1] + w < n:
        starts.append(n - w)
    return [(a, a + w) for a in starts]


def prepare(mouth: F64, energy: F64, fps: float) -> tuple[F64, F64]:
    """High-passed mouth opening and speech energy (about one second of context)."""
    width = round(fps)
    return highpass(mouth, width), highpass(energy, width)
