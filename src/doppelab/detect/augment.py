"""Photometric augmentations applied to real and fake samples alike.

So that no codec, resolution, blur or noise level becomes a cue: each training image (real or
pseudo-fake) independently gets a random subset of JPEG re-compression, down-up resizing, blur,
Gaussian noise, brightness/contrast change and horizontal flip, and, where a config asks for it
(``p_codec``), a round trip through H.264 at a random face scale
(:func:`codec`). Maps travel with flips.

Convention: images ``(S, S, 3)`` uint8 RGB; maps ``(S, S)`` float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from doppelab.core.h264 import h264_roundtrip
from doppelab.core.types import ImageU8, MaskF32


@dataclass(frozen=True, slots=True, kw_only=True)
class AugmentConfig:
    """Probabilities and ranges of the shared augmentations."""

    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (35, 95)
    p_resize: float = 0.3
    resize: tuple[float, float] = (0.4, 0.9)
    p_blur: float = 0.15
    p_noise: float = 0.15
    noise_sigma: tuple[float, float] = (1.0, 6.0)
    p_tone: float = 0.4
    p_flip: float = 0.5
    p_codec: float = 0.0  # off by default: the shipped BlendNet recipe predates it
    codec_crf: tuple[int, int] = (23, 40)
    codec_scale: tuple[float, float] = (0.6, 2.5)


def jpeg(image: ImageU8, quality: int) -> ImageU8:
    """Round trip through JPEG at ``quality`` (OpenCV's encoder, RGB in and out)."""
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return image
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def codec(image: ImageU8, rng: np.random.Generator, cfg: AugmentConfig) -> ImageU8:
    """``image`` as a face in an H.264 video: resized by a log-uniform factor of
    ``cfg.codec_scale`` (the face's pixel size in the video against the crop's: above 1 the
    video's face was larger and the crop a reduction, below 1 it was smaller and enlarged),
    coded as a P-frame at a CRF drawn from ``cfg.codec_crf`` after a shift of up to 2 px
    (:func:`~doppelab.core.h264.h264_roundtrip`), and resized back."""
    size = image.shape[0]
    k = float(np.exp(rng.uniform(np.log(cfg.codec_scale[0]), np.log(cfg.codec_scale[1]))))
    side = max(16, round(size * k))
    crf = int(rng.integers(cfg.codec_crf[0], cfg.codec_crf[1] + 1))
    shift = (float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2)))
    down, up = cv2.INTER_AREA, cv2.INTER_CUBIC
    frame = np.asarray(cv2.resize(image, (side, side), interpolation=down if side < size else up),
                       np.uint8)
    frame = h264_roundtrip(frame, crf, shift)
    back = cv2.resize(frame, (size, size), interpolation=down if side > size else cv2.INTER_LINEAR)
    return np.ascontiguousarray(back)


def augment(
    image: ImageU8,
    boundary: MaskF32,
    rng: np.random.Generator,
    cfg: AugmentConfig | None = None,
) -> tuple[ImageU8, MaskF32]:
    """Randomly degrade ``image`` (and flip it with its ``boundary`` map)."""
    cfg = cfg or AugmentConfig()
    img: Any = image
    size = img.shape[0]
    if rng.random() < cfg.p_resize:
        small = max(16, round(size * rng.uniform(*cfg.resize)))
        img = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < cfg.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.3, 1.0))
    f = img.astype(np.float32)
    if rng.random() < cfg.p_tone:
        f = (f - 128.0) * rng.uniform(0.8, 1.2) + 128.0 + rng.uniform(-20, 20)
    if rng.random() < cfg.p_noise:
        f = f + rng.normal(0.0, rng.uniform(*cfg.noise_sigma), size=f.shape).astype(np.float32)
    img = np.asarray(np.clip(f + 0.5, 0, 255), np.uint8)
    if rng.random() < cfg.p_jpeg:
        img = jpeg(img, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    if cfg.p_codec and rng.random() < cfg.p_codec:  # no draw when off: older recipes replay
        img = codec(img, rng, cfg)
    if rng.random() < cfg.p_flip:
        img, boundary = img[:, ::-1], boundary[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(boundary)
