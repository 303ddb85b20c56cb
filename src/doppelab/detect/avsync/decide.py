"""Decision scores of the sync analysis: from a clip's lag curve to "mouth and speech do not
belong together".

The network gives one curve over the lags ``[-MAX_LAG, MAX_LAG]`` per clip (the mean in-sync logit
of the speech frames at each lag, :func:`doppelab.detect.avsync.analyse.pooled_curve`). Its peak
is the offset; but an unseen person reads with a bias of one to three frames, so ``|offset|``
alone confuses a small real bias with a small real shift. The scores here also look at the curve's
shape (all are "higher = more likely out of sync"):

* ``abs_offset``: ``|offset|`` in frames (the previous rule);
* ``drop0``: how far lag 0 lies below the peak, in units of the curve's spread (peak - median):
  0 when lag 0 is the best lag, about 1 when lag 0 is no better than a typical lag;
* ``z0``: lag 0's standardised score, negated (``-(c[0] - mean) / std``);
* ``far_near``: the best far lag (``|lag| >= FAR``) minus the best near lag (``|lag| <= 1``), in
  units of the spread.

:func:`curve_scores` computes them; :func:`fit_platt` / :func:`platt_probability` turn one into a
probability with a logistic fitted on cross-validation rows of train clips
(:mod:`doppelab.detect.avsync.cvscore`), class-balanced so 0.5 sits between the two classes;
:func:`read_decision` reads the shipped fit back from a cvscore result file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError

F64 = npt.NDArray[np.float64]
FAR = 3
SCORES = ("abs_offset", "drop0", "z0", "far_near")


def curve_scores(curve: F64 | Sequence[float], offset: float | None = None) -> dict[str, float]:
    """Every decision score of one lag curve (see the module docstring).

    Shape: ``curve (2 * max_lag + 1,)``, lag 0 in the middle. ``offset``: the sub-frame peak when
    the caller already has it (else the arg-max lag).

    Raises:
        UsageError: the curve is not 1-D with an odd length of at least ``2 * FAR + 1``, or not
            finite.
    """
    c = np.asarray(curve, np.float64)
    if c.ndim != 1 or len(c) % 2 == 0 or len(c) < 2 * FAR + 1 or not np.isfinite(c).all():
        raise UsageError(f"need a finite 1-D lag curve of odd length >= {2 * FAR + 1}, "
                         f"got shape {c.shape}")
    mid = len(c) // 2
    lags = np.arange(len(c)) - mid
    spread = max(float(c.max() - np.median(c)), 1e-6)
    off = float(np.argmax(c) - mid) if offset is None else float(offset)
    return {
        "abs_offset": abs(off),
        "drop0": float(c.max() - c[mid]) / spread,
        "z0": -float(c[mid] - c.mean()) / max(float(c.std()), 1e-6),
        "far_near": float(c[np.abs(lags) >= FAR].max() - c[np.abs(lags) <= 1].max()) / spread,
    }


def fit_platt(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """``(a, b)`` of ``P(out of sync) = sigmoid(a * score + b)`` fitted by class-balanced
    logistic regression (Newton steps with a small ridge on ``a``).

    Raises:
        UsageError: lengths differ or a class is missing.
    """
    x = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.float64)
    if x.shape != y.shape or x.ndim != 1 or not (y == 1).any() or not (y == 0).any():
        raise UsageError("need equal-length scores and labels with both classes")
    w = np.where(y == 1, 0.5 / (y == 1).sum(), 0.5 / (y == 0).sum())
    xs = (x - x.mean()) / max(float(x.std()), 1e-9)
    a, b = 0.0, 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a * xs + b)))
        g = np.array([np.sum(w * (p - y) * xs) + 1e-3 * a, np.sum(w * (p - y))])
        h = w * p * (1.0 - p)
        hess = np.array([[np.sum(h * xs * xs) + 1e-3, np.sum(h * xs)],
                         [np.sum(h * xs), np.sum(h) + 1e-12]])
        step = np.linalg.solve(hess, g)
        a, b = a - float(step[0]), b - float(step[1])
        if np.abs(step).max() < 1e-9:
            break
    scale = max(float(x.std()), 1e-9)
    return a / scale, b - a * float(x.mean()) / scale


def platt_probability(score: float, a: float, b: float) -> float:
    """``sigmoid(a * score + b)`` (see :func:`fit_platt`)."""
    return float(1.0 / (1.0 + np.exp(-(a * score + b))))


def read_decision(path: Path, score: str) -> dict[str, Any]:
    """``{"score", "a", "b", "from"}`` of ``score`` in a :mod:`~doppelab.detect.avsync.cvscore`
    result file (its Platt fit on every cross-validation row of the ensemble).

    Raises:
        UsageError: unreadable file or no fit for ``score``.
    """
    try:
        fits = json.loads(path.read_text())["ensemble"]["platt_all_rows"]
        a, b = fits[score]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"no decision fit for {score!r} in {path} ({exc})") from None
    return {"score": score, "a": float(a), "b": float(b), "from": path.name}
