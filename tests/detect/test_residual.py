"""Noise-residual consistency features (detect.residual) and the frequency file's version check."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.detect.frequency import FEATURES_VERSION, N_FEATURES, features, fit_mlp
from doppelab.detect.residual import N_RESIDUAL, PROFILES, residual_features, signed_distance

INNER_MINUS_OUTER_NOISE = 2 * PROFILES  # first "inner - outer" entry: log luma noise
LOCAL_INSIDE_MINUS_OUTSIDE = N_RESIDUAL - 1


def _grainy(face: tuple[np.ndarray, np.ndarray], sigma: float = 4.0) -> np.ndarray:
    crop, _ = face
    rng = np.random.default_rng(0)
    noisy = crop.astype(np.float32) + rng.normal(0.0, sigma, crop.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def test_shape(astronaut_face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = astronaut_face
    f = residual_features(crop, lm)
    assert f.shape == (N_RESIDUAL,) and np.isfinite(f).all()
    assert features(crop[None], lm[None]).shape == (1, N_FEATURES)


def test_signed_distance_positive_inside(astronaut_face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = astronaut_face
    d = signed_distance(lm, crop.shape[0])
    nose = np.round(lm[1]).astype(int)  # mesh point 1: tip of the nose
    assert d[nose[1], nose[0]] > 10 and d[0, 0] < 0


def test_smoothed_interior_shows(astronaut_face: tuple[np.ndarray, np.ndarray]) -> None:
    """A face re-rendered without grain (blurred inside the hull) against the same grainy
    frame: the inside-minus-outside noise features drop clearly."""
    crop, lm = astronaut_face
    grainy = _grainy(astronaut_face)
    inside = (signed_distance(lm, crop.shape[0]) > 3)[..., None]
    smooth = np.where(inside, cv2.GaussianBlur(grainy, (0, 0), 1.2), grainy)
    real, fake = residual_features(grainy, lm), residual_features(smooth, lm)
    for k in (INNER_MINUS_OUTER_NOISE, LOCAL_INSIDE_MINUS_OUTSIDE):
        assert fake[k] < real[k] - 0.5


def test_brightness_does_not_count(astronaut_face: tuple[np.ndarray, np.ndarray]) -> None:
    """A uniform brightness change (another skin tone or exposure) hardly moves the features."""
    _, lm = astronaut_face
    grainy = _grainy(astronaut_face)
    brighter = np.clip(grainy.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    a, b = residual_features(grainy, lm), residual_features(brighter, lm)
    assert np.abs(a - b).max() < 0.1


def test_frequency_file_of_another_version_is_refused(tmp_path: Path) -> None:
    from doppelab.detect.frequency_detector import FrequencyDetector

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, N_FEATURES - N_RESIDUAL))  # a version-1 classifier (110 features)
    old = fit_mlp(x, (x[:, 0] > 0).astype(int), hidden=4, epochs=1)
    np.savez(tmp_path / "old.npz", **old.to_arrays())
    with pytest.raises(UsageError, match="feature version 1"):
        FrequencyDetector(path=tmp_path / "old.npz")
    x = rng.normal(size=(64, N_FEATURES))
    new = fit_mlp(x, (x[:, 0] > 0).astype(int), hidden=4, epochs=1)
    np.savez(tmp_path / "new.npz", **new.to_arrays(), version=np.array([FEATURES_VERSION]))
    assert FrequencyDetector(path=tmp_path / "new.npz").describe()["features"] == N_FEATURES
