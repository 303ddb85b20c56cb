"""The detector contract: registry, shapes of every output, typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.detect.base import FaceBatch, TrackSeries, available, create_detector, output


def test_registry() -> None:
    assert {"blend", "frequency", "temporal"} <= set(available())
    with pytest.raises(UsageError):
        create_detector("nope")


def _check(out: dict, n: int) -> None:
    assert out["logits"].shape == out["probability"].shape == (n,)
    assert out["features"].ndim == 2 and len(out["features"]) == n
    assert ((out["probability"] >= 0) & (out["probability"] <= 1)).all()
    assert np.isfinite(out["logits"]).all()


@pytest.mark.parametrize("name", ["blend", "frequency"])
def test_face_detectors_shape(name: str, astronaut_face: tuple) -> None:
    crop, lm = astronaut_face
    det = create_detector(name)
    assert det.level == "face" and det.describe()["name"] == name
    batch = FaceBatch(crops=np.stack([crop, crop[:, ::-1].copy()]), landmarks=np.stack([lm, lm]))
    out = det.forward(batch)
    _check(out, 2)
    if name == "blend":
        assert out["evidence"].shape == (2, 32, 32)
        assert (out["evidence"] >= 0).all() and (out["evidence"] <= 1).all()
    empty = det.forward(FaceBatch(crops=crop[None][:0], landmarks=lm[None][:0]))
    assert empty["logits"].shape == (0,)


def test_face_batch_accepts_256_crops(astronaut_face: tuple) -> None:
    import cv2

    crop, lm = astronaut_face
    big = cv2.resize(crop, (256, 256))
    out = create_detector("blend").forward(FaceBatch(crops=big[None], landmarks=(lm * 2)[None]))
    assert out["logits"].shape == (1,)


def test_face_batch_shape_guard() -> None:
    with pytest.raises(ValueError):
        FaceBatch(crops=np.zeros((2, 128, 128), np.uint8), landmarks=np.zeros((2, 478, 2)))
    with pytest.raises(ValueError):
        FaceBatch(crops=np.zeros((2, 128, 128, 3), np.uint8), landmarks=np.zeros((3, 478, 2)))


def test_temporal_shape_and_flicker(astronaut_face: tuple) -> None:
    det = create_detector("temporal")
    rng = np.random.default_rng(0)
    base = np.zeros((478, 3), np.float32)
    base[:, :2] = astronaut_face[1] * 2.0
    t = np.arange(60) / 25.0
    shift = [np.array([np.sin(i / 10) * 3, 0, 0], np.float32) for i in range(60)]
    smooth = np.stack([base + d for d in shift]).astype(np.float32)
    jitter = smooth + rng.normal(0, 3.0, smooth.shape).astype(np.float32)
    emb = np.eye(4, 128, dtype=np.float32)
    outs = [
        det.forward(TrackSeries(landmarks=x, timestamps=t, embeddings=emb[:1].repeat(4, 0)))
        for x in (smooth, jitter)
    ]
    for o in outs:
        _check(o, 1)
    assert outs[1]["logits"][0] > outs[0]["logits"][0]  # flicker is more suspicious


def test_output_helper_guards() -> None:
    out = output([0.0, 2.0], np.zeros((2, 3)))
    assert out["probability"][0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        output([0.0], np.zeros((1, 3)), np.zeros((2, 4, 4)))
