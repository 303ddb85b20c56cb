"""core.h264: an image through libx264 as a P-frame and back."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.core.h264 import h264_roundtrip


def _smooth(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 60 * np.sin(xx / 7), 128 + 60 * np.cos(yy / 9), (xx + yy) % 256], -1)
    return np.asarray(np.clip(img, 0, 255), np.uint8)


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_shape_kept_and_damage_grows_with_crf() -> None:
    img = _smooth(67, 93)  # odd sizes: padded for 4:2:0 and cropped back
    rng = np.random.default_rng(0)
    noisy = np.asarray(np.clip(img + rng.normal(0, 12, img.shape), 0, 255), np.uint8)
    errs = [_err(h264_roundtrip(noisy, crf, (0.6, -1.2)), noisy) for crf in (10, 30, 45)]
    assert h264_roundtrip(noisy, 30).shape == noisy.shape
    assert errs[0] < errs[1] < errs[2]
    assert _err(h264_roundtrip(img, 10, (0.6, -1.2)), img) < 2.5  # near-lossless (4:2:0: ~2)


def test_fine_detail_lost_at_high_crf() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = h264_roundtrip(noise, 45)
    assert np.std(out.astype(np.float64)) < 0.5 * np.std(noise.astype(np.float64))


@pytest.mark.parametrize(("image", "crf"), [
    (np.zeros((32, 32), np.uint8), 23),
    (np.zeros((32, 32, 3), np.float32), 23),
    (np.zeros((32, 32, 3), np.uint8), 60),
])
def test_bad_arguments_are_refused(image: np.ndarray, crf: int) -> None:
    with pytest.raises(UsageError):
        h264_roundtrip(image, crf)
