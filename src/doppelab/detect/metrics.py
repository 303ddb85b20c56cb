"""Detection metrics: ROC curve, AUC, EER, average precision, accuracy at a threshold.

Convention: ``labels`` are 1 for fake and 0 for real; ``scores`` grow with "fake". Ties are
handled exactly (AUC counts a tied pair as one half, as the Mann-Whitney statistic does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

Array = npt.ArrayLike


def _check(labels: Array, scores: Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def roc_auc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); NaN with one class only."""
    y, s = _check(labels, scores)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_real_vs_fake(real: Sequence[float], fake: Sequence[float]) -> float:
    """:func:`roc_auc` of scores of real (label 0) and fake (label 1) items given as two lists."""
    return roc_auc([0] * len(real) + [1] * len(fake), [*real, *fake])


def roc_curve(labels: Array, scores: Array) -> tuple[npt.NDArray[np.float64], ...]:
    """(fpr, tpr, thresholds), thresholds decreasing, starting at (0, 0) with +inf."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s) - 1]
    tps = np.cumsum(y_sorted)[distinct].astype(np.float64)
    fps = (distinct + 1 - tps).astype(np.float64)
    n_pos, n_neg = max(y.sum(), 1), max((1 - y).sum(), 1)
    return (
        np.r_[0.0, fps / n_neg],
        np.r_[0.0, tps / n_pos],
        np.r_[np.inf, s_sorted[distinct]],
    )


def eer(labels: Array, scores: Array) -> float:
    """Equal error rate: where the false-positive rate meets the false-negative rate."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nonzero(fnr <= fpr)[0][0]) if (fnr <= fpr).any() else len(fpr) - 1
    if i == 0:
        return float(fpr[0])
    # linear interpolation between the two points that bracket the crossing
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def average_precision(labels: Array, scores: Array) -> float:
    """Average precision (area under the step precision-recall curve, as scikit-learn's)."""
    y, s = _check(labels, scores)
    if y.sum() == 0:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    n_pos, n_neg = y.sum(), (1 - y).sum()
    tps, fps = tpr[1:] * n_pos, fpr[1:] * n_neg
    precision = tps / np.maximum(tps + fps, 1e-12)
    recall = tpr[1:]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def accuracy(labels: Array, scores: Array, threshold: float) -> float:
    """Share of samples where ``score >= threshold`` agrees with the label."""
    y, s = _check(labels, scores)
    return float(((s >= threshold).astype(np.int64) == y).mean()) if len(y) else float("nan")


def log_loss(labels: Array, logits: Array) -> float:
    """Mean binary cross-entropy of the probabilities ``sigmoid(logits)`` (clipped to
    1e-6 .. 1 - 1e-6) against 0/1 ``labels``."""
    y = np.asarray(labels, np.float64)
    p = np.clip(1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64))), 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def summary(labels: Array, scores: Array, threshold: float = 0.5) -> dict[str, Any]:
    """AUC, EER, AP, accuracy at ``threshold`` and the class counts."""
    y, s = _check(labels, scores)
    return {
        "n": len(y),
        "fake": int(y.sum()),
        "real": int((1 - y).sum()),
        "auc": roc_auc(y, s),
        "eer": eer(y, s) if 0 < y.sum() < len(y) else float("nan"),
        "ap": average_precision(y, s),
        "accuracy": accuracy(y, s, threshold),
        "threshold": threshold,
    }
