"""Metrics against hand-computed values and a brute-force AUC."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.detect.metrics import accuracy, average_precision, eer, roc_auc, roc_curve, summary


def test_known_values() -> None:
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    assert roc_auc(y, s) == pytest.approx(0.75)
    assert average_precision(y, s) == pytest.approx(5 / 6)  # (1 + 2/3) / 2
    assert eer(y, s) == pytest.approx(0.5)
    assert accuracy(y, s, 0.38) == pytest.approx(0.5)


def test_perfect_reversed_and_ties() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert roc_auc(y, s) == 1.0 and eer(y, s) == 0.0 and average_precision(y, s) == 1.0
    assert roc_auc(y, -s) == 0.0
    assert roc_auc(y, np.zeros(5)) == 0.5


def test_auc_matches_pairwise_count() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(y, s) == pytest.approx(brute)
    fpr, tpr, thr = roc_curve(y, s)
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    assert np.all(np.diff(thr[1:]) < 0)
    assert np.trapz(tpr, fpr) == pytest.approx(brute)


def test_exceptions_and_one_class() -> None:
    with pytest.raises(ValueError):
        roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        roc_auc([0, 1], [0.1, np.nan])
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))
    out = summary([0, 1, 1], [0.2, 0.7, 0.9])
    assert out["n"] == 3 and out["fake"] == 2 and out["accuracy"] == 1.0


def test_auc_real_vs_fake_is_roc_auc_of_the_two_lists() -> None:
    from doppelab.detect.metrics import auc_real_vs_fake

    real, fake = [0.1, 0.4, 0.35], [0.8, 0.3]
    auc = auc_real_vs_fake(real, fake)
    assert auc == roc_auc([0, 0, 0, 1, 1], real + fake) == pytest.approx(4 / 6)
    assert np.isnan(auc_real_vs_fake(real, []))
