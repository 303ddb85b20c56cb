"""Fusion and calibration: monotonic, fitted weights recover the signal."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.detect.frequency import fit_logistic
from doppelab.detect.fusion import Fusion, fit_fusion
from doppelab.detect.metrics import roc_auc


def test_shipped_fusion_monotonic() -> None:
    fusion = Fusion.load()
    grid = np.linspace(-8, 8, 41, dtype=np.float32)
    for name in fusion.weights:
        others = {n: np.zeros_like(grid) for n in fusion.weights if n != name}
        p = fusion.probability(fusion.face_logits({name: grid, **others}))
        assert np.all(np.diff(p) >= 0)
        assert p[-1] > p[0]


def test_video_logit_temporal_only_raises() -> None:
    f = Fusion(temporal_weight=0.5)
    assert f.video_logit([0.2, -0.2], None) == pytest.approx(0.0)
    assert f.video_logit([0.2, -0.2], -3.0) == pytest.approx(0.0)
    assert f.video_logit([0.2, -0.2], 2.0) == pytest.approx(1.0)
    assert f.video_logit([0.2, -0.2], 50.0) == pytest.approx(0.5 * f.temporal_cap)


def test_fit_fusion_recovers_weights() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = (2 * y - 1) * 2.0 + rng.normal(size=2000)
    noise = rng.normal(size=2000)
    f = fit_fusion({"blend": good, "frequency": noise}, y)
    assert f.weights["blend"] > 1.0 and abs(f.weights["frequency"]) < 0.2
    p = f.probability(f.face_logits({"blend": good, "frequency": noise}))
    assert roc_auc(y, p) > 0.95
    # calibrated: the mean predicted probability of each decile is near its empirical rate
    order = np.argsort(p)
    for part in np.array_split(order, 5):
        assert abs(p[part].mean() - y[part].mean()) < 0.08


def test_logistic_standardises() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3)) * [1.0, 100.0, 0.01]
    y = (x[:, 1] / 100 + rng.normal(scale=0.3, size=500) > 0).astype(int)
    clf = fit_logistic(x, y)
    assert roc_auc(y, clf.logits(x)) > 0.9


def test_mlp_learns_an_interaction_logistic_cannot() -> None:
    from doppelab.detect.frequency import SmallMLP, fit_mlp

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2000, 4)) * [1.0, 50.0, 1.0, 0.01]
    y = ((x[:, 0] * x[:, 1] / 50) > 0).astype(int)  # XOR-like: no linear separation
    assert roc_auc(y, fit_logistic(x, y).logits(x)) < 0.65
    mlp = fit_mlp(x, y, hidden=16, epochs=60)
    assert roc_auc(y, mlp.logits(x)) > 0.85
    again = SmallMLP.from_arrays(mlp.to_arrays())  # the npz round trip
    assert isinstance(again, SmallMLP) and np.allclose(again.logits(x[:50]), mlp.logits(x[:50]))
    assert np.allclose(fit_mlp(x, y, hidden=16, epochs=2).w1, fit_mlp(x, y, hidden=16, epochs=2).w1)


def test_older_logistic_files_still_load() -> None:
    from doppelab.detect.frequency import N_FEATURES, Logistic, load_classifier

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, N_FEATURES))
    clf = fit_logistic(x, (x[:, 0] > 0).astype(int))
    again = load_classifier(clf.to_arrays(), "old.npz")  # no w1, no version: logistic, version 1
    assert isinstance(again, Logistic) and np.allclose(again.logits(x), clf.logits(x))
