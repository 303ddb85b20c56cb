from __future__ import annotations

import cv2
import numpy as np
import pytest

from doppelab.extract.align import template
from doppelab.swap import postprocess as pp
from doppelab.swap.smoothing import OneEuro, smoother
from doppelab.swap.warp import triangle_affines, triangles, warp_mesh


@pytest.fixture(scope="module")
def pair(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = cv2.resize(astronaut, (128, 128))
    b = np.clip(a.astype(int) * 0.6 + np.array([40, 0, -10]), 0, 255).astype(np.uint8)
    mask = np.zeros((128, 128), np.float32)
    mask[20:108, 30:98] = 1.0
    return a, b, mask


def test_reinhard_matches_target_statistics(pair) -> None:
    a, b, mask = pair
    out = pp.reinhard(a, b, mask)
    lab_o = cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(float)[mask > 0.5]
    lab_b = cv2.cvtColor(b, cv2.COLOR_RGB2LAB).astype(float)[mask > 0.5]
    np.testing.assert_allclose(lab_o.mean(0), lab_b.mean(0), atol=2.0)
    np.testing.assert_allclose(lab_o.std(0), lab_b.std(0), rtol=0.15, atol=1.5)


def test_histogram_match_moves_the_histogram(pair) -> None:
    a, b, mask = pair
    out = pp.histogram_match(a, b, mask)
    sel = mask > 0.5
    assert np.abs(out[sel].mean(0) - b[sel].mean(0)).max() < 3
    with pytest.raises(ValueError):
        pp.transfer_colour(a, b, mask, "sepia")


def test_shape_mask_erodes_and_feathers() -> None:
    m = np.zeros((100, 100), np.float32)
    m[20:80, 20:80] = 1
    s = pp.shape_mask(m, erode=0.05, feather=0.1)
    assert s[50, 50] == pytest.approx(1.0) and s[21, 50] == 0.0
    assert 0 < s[30, 50] < 1
    assert (s <= m).all()


def test_grain_matches_target_noise(pair) -> None:
    a, _, mask = pair
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    smooth = cv2.GaussianBlur(a, (0, 0), 1.2)
    out = pp.match_grain(smooth, noisy, mask, seed=1)
    assert pp.noise_sigma(out, mask) == pytest.approx(pp.noise_sigma(noisy, mask), rel=0.35)
    assert pp.noise_sigma(out, mask) > 2 * pp.noise_sigma(smooth, mask)


def test_poisson_sharpen_alpha_shapes(pair) -> None:
    a, b, mask = pair
    assert pp.poisson_blend(a, b, mask).shape == a.shape
    assert pp.sharpen(a, 0.8).std() >= a.std()
    out = pp.alpha_blend(a, b, mask)
    assert np.array_equal(out[mask == 1], a[mask == 1])
    assert np.array_equal(out[mask == 0], b[mask == 0])


def test_mesh_warp_identity_and_affines() -> None:
    tris = triangles()
    assert tris.shape[1] == 3 and len(tris) > 850
    tp = template(128, 0.75).astype(np.float32)
    img = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    out, covered = warp_mesh(img, tp, tp, 128)
    assert covered.mean() > 0.3
    assert np.abs(out.astype(int) - img.astype(int))[covered > 0].mean() < 0.5
    shifted = tp + np.float32(3.0)
    aff = triangle_affines(shifted, tp, tris)
    np.testing.assert_allclose(aff[:, :, 2], -3.0, atol=1e-3)  # dst -> src: move back by 3


def test_one_euro_smooths_noise_and_follows_steps() -> None:
    rng = np.random.default_rng(0)
    f = OneEuro(min_cutoff=1.0, beta=0.0)
    xs = [f(np.array([100.0 + rng.normal(0, 1)], np.float32), t / 30) for t in range(60)]
    assert np.std(xs[10:]) < 0.5
    g = OneEuro(min_cutoff=1.0, beta=0.5)
    for t in range(30):
        y = g(np.array([200.0 if t >= 10 else 0.0], np.float32), t / 30)
    assert y[0] > 190  # caught up with the step
    assert smoother(0.0) is None and smoother(1.0) is not None
