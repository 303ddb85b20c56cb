from __future__ import annotations

import numpy as np
import pytest

from doppelab.core.geometry import (
    affine_scale,
    compose,
    estimate_similarity,
    invert_affine,
    paste_back,
    transform_points,
    warp_to_crop,
)


def _similarity(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]], np.float32)


def test_estimate_similarity_recovers_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (30, 2))
    m = _similarity(0.3, 1.7, 12.0, -5.0)
    dst = transform_points(m, src)
    est = estimate_similarity(src, dst)
    np.testing.assert_allclose(est, m, atol=1e-4)


def test_estimate_similarity_shape_guard() -> None:
    with pytest.raises(ValueError):
        estimate_similarity(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError):
        estimate_similarity(np.zeros((5, 2)), np.ones((5, 2)))


def test_invert_and_compose_roundtrip() -> None:
    m = _similarity(-0.7, 0.4, 100.0, 30.0)
    ident = compose(m, invert_affine(m))
    np.testing.assert_allclose(ident, [[1, 0, 0], [0, 1, 0]], atol=1e-5)
    assert affine_scale(m) == pytest.approx(0.4, rel=1e-5)


def test_transform_points_scales_z() -> None:
    m = _similarity(0.0, 2.0, 1.0, 1.0)
    out = transform_points(m, np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(out, [[3.0, 5.0, 6.0]])


def test_warp_then_paste_back_reproduces_frame_inside_mask(astronaut: np.ndarray) -> None:
    frame = astronaut
    # crop that magnifies (1.5x) a rotated region around the face
    m = compose(_similarity(0.2, 1.5, 0.0, 0.0), np.array([[1, 0, -150], [0, 1, -40]], np.float32))
    crop = warp_to_crop(frame, m, 256)
    mask = np.zeros((256, 256), np.float32)
    mask[40:216, 40:216] = 1.0
    pasted = paste_back(np.zeros_like(frame), crop, mask, m)
    inside = (
        paste_back(
            np.zeros_like(frame),
            np.full((256, 256, 3), 255, np.uint8),
            mask,
            m,
        )[..., 0]
        == 255
    )
    assert inside.sum() > 5000
    err = np.abs(pasted.astype(int) - frame.astype(int))[inside]
    assert err.mean() < 3.0, err.mean()
    assert np.percentile(err, 99) < 25
    # outside the mask the target frame is untouched
    untouched = paste_back(frame, crop, mask, m)
    white = np.full((256, 256, 3), 255, np.uint8)
    outside = paste_back(np.zeros_like(frame), white, mask, m)[..., 0] == 0
    assert np.array_equal(untouched[outside], frame[outside])
