"""Self-blended pseudo-fakes (the Self-Blended Images idea, Shiohara & Yamasaki 2022).

A real aligned face is blended onto a copy of itself whose colour, sharpness and geometry were
changed a little, through a soft landmark mask. The result carries the statistical traces of a
face swap (a blending seam, a colour and frequency mismatch between inside and outside) without
any identity change, so a detector trained on it learns the seam, not the people.

Convention: crops are ``(S, S, 3)`` uint8 RGB; landmarks ``(478, 2|3)`` in crop pixels; masks and
the boundary map ``(S, S)`` float32 in [0, 1]. The boundary map is ``4 m (1 - m)`` (Face X-ray),
normalised to peak at 1: it is 0 where the output is purely the target or purely the source and
largest along the seam. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.types import ImageU8, Landmarks, MaskF32
from doppelab.extract.topology import contours

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class BlendConfig:
    """Ranges of the random self-blend (fractions are of the crop side)."""

    shift: float = 0.03  # source translation, +-
    scale: float = 0.05  # source scale, +-
    colour: float = 18.0  # per-channel shift, +- (0-255 scale)
    contrast: float = 0.12  # source contrast/brightness factor, +-
    min_resize: float = 0.45  # source down-up resize factor range (min, 1)
    min_sigma: float = 0.01  # mask edge softness, Gaussian sigma range (fractions)
    max_sigma: float = 0.06
    deform: float = 0.08  # mask hull deformation, +- (per axis scale about the centroid)
    min_alpha: float = 0.6  # blend ratio range (min, 1) for partial blends
    p_swap: float = 0.5  # chance that the transformed copy is the target (outside) instead


@dataclass(frozen=True, slots=True, kw_only=True)
class BlendSample:
    """One pseudo-fake: the image, the blend mask and its boundary map (all ``(S, S)``)."""

    image: ImageU8
    mask: MaskF32
    boundary: MaskF32


def _inner_points() -> npt.NDArray[np.int64]:
    c = contours()
    parts = (c.right_eye, c.left_eye, c.right_brow, c.left_brow, c.lips_outer, c.nose)
    return np.unique(np.concatenate(parts))


def _hull_mask(points: F32, size: int) -> F32:
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 1, 2)
    out = np.zeros((size, size), np.uint8)
    cv2.fillPoly(out, [np.round(hull * 16).astype(np.int32)], (255,), cv2.LINE_AA, shift=4)
    return out.astype(np.float32) / 255.0


def random_mask(landmarks: Landmarks, size: int, rng: np.random.Generator, cfg: BlendConfig) -> F32:
    """A random soft blend mask: full or inner face hull, deformed, eroded/dilated, blurred."""
    pts = np.asarray(landmarks[:468, :2], np.float32)
    kind = rng.choice(3, p=[0.5, 0.3, 0.2])
    if kind == 1:
        pts = pts[_inner_points()]
    centre = pts.mean(axis=0)
    shrink = 0.85 + 0.1 * rng.random() if kind == 2 else 1.0
    axis = 1.0 + rng.uniform(-cfg.deform, cfg.deform, size=2)
    pts = (pts - centre) * (axis * shrink) + centre
    mask: Any = _hull_mask(pts, size)
    k = int(rng.integers(0, max(2, size // 25)))
    if k > 0:
        kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        op = cv2.erode if rng.random() < 0.5 else cv2.dilate
        mask = op(mask, kernel)
    sigma = size * rng.uniform(cfg.min_sigma, cfg.max_sigma)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma)
    if rng.random() < 0.25:
        mask = mask * rng.uniform(cfg.min_alpha, 1.0)
    return np.asarray(np.clip(mask, 0.0, 1.0), np.float32)


def _colour(img: F32, rng: np.random.Generator, cfg: BlendConfig) -> F32:
    out = img + rng.uniform(-cfg.colour, cfg.colour, size=3).astype(np.float32)
    if rng.random() < 0.5:
        c = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
        mean = out.mean()
        out = (out - mean) * c + mean + rng.uniform(-0.5, 0.5) * cfg.colour
    return out


def _frequency(img: F32, rng: np.random.Generator, cfg: BlendConfig) -> F32:
    size = img.shape[0]
    r = rng.random()
    if r < 0.45:
        f = rng.uniform(cfg.min_resize, 0.9)
        small = max(8, round(size * f))
        interp = (cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC)[int(rng.integers(3))]
        down = cv2.resize(img, (small, small), interpolation=interp)
        return np.asarray(cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR))
    if r < 0.65:
        blur = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.5, 1.5))
        amount = rng.uniform(0.3, 1.0)
        return np.asarray(img + amount * (img - blur))  # unsharp mask
    if r < 0.85:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.4, 1.2)))
    return img


def _geometry(img: F32, rng: np.random.Generator, cfg: BlendConfig) -> F32:
    size = img.shape[0]
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, size=2) * size
    c = (size - 1) / 2.0
    m = np.array([[s, 0.0, (1 - s) * c + tx], [0.0, s, (1 - s) * c + ty]], np.float64)
    return np.asarray(
        cv2.warpAffine(
            img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
    )


def global_transform(
    crop: ImageU8, rng: np.random.Generator, cfg: BlendConfig | None = None
) -> ImageU8:
    """The self-blend's source change (colour, sharpness, geometry) applied to the *whole* crop.

    A real face changed everywhere alike carries no seam, so it stays real: training with such
    reals teaches that a global colour or sharpness change is no evidence, only an inconsistency
    between inside and outside is, and keeps the real class from being a fixed, memorisable set
    of images. Shape: ``(S, S, 3)`` uint8 in and out.
    """
    cfg = cfg or BlendConfig()
    img = crop.astype(np.float32)
    for step in (_colour, _frequency, _geometry):
        if rng.random() < 0.6:
            img = step(img, rng, cfg)
    return np.asarray(np.clip(img + 0.5, 0, 255), np.uint8)


def boundary_map(mask: MaskF32) -> MaskF32:
    """Face X-ray boundary ``4 m (1 - m)`` scaled to peak at 1 (all zeros for a flat mask)."""
    b = 4.0 * mask * (1.0 - mask)
    peak = float(b.max())
    return np.asarray(b / peak if peak > 1e-6 else b * 0.0, np.float32)


def self_blend(
    crop: ImageU8,
    landmarks: Landmarks,
    rng: np.random.Generator,
    cfg: BlendConfig | None = None,
) -> BlendSample:
    """Blend ``crop`` with a transformed copy of itself along a random landmark mask.

    Shape: ``crop`` (S, S, 3) uint8, ``landmarks`` (478, 2|3) in crop px -> images/maps of (S, S).
    """
    cfg = cfg or BlendConfig()
    size = crop.shape[0]
    target = crop.astype(np.float32)
    source = target
    steps = [_colour, _frequency, _geometry]
    # always change colour or frequency content, and usually the geometry as well
    keep = [rng.random() < 0.8, rng.random() < 0.8, rng.random() < 0.7]
    if not (keep[0] or keep[1]):
        keep[int(rng.integers(2))] = True
    for step, on in zip(steps, keep, strict=True):
        if on:
            source = step(source, rng, cfg)
    if rng.random() < cfg.p_swap:  # sometimes the target is the transformed one (as SBI)
        source, target = target, source
    mask = random_mask(landmarks, size, rng, cfg)
    out = source * mask[..., None] + target * (1.0 - mask[..., None])
    image = np.asarray(np.clip(out + 0.5, 0, 255), np.uint8)
    return BlendSample(image=image, mask=mask, boundary=boundary_map(mask))
