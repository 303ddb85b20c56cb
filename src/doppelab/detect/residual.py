"""Noise-residual consistency across the face hull: the re-synthesis cue of swaps and blends.

A camera frame carries sensor noise and grain everywhere; a swapped or blended face is
re-rendered (decoded, warped, blurred or sharpened) inside its mask, so its fine-grain noise,
chroma noise and the correlation of the colour channels' noise differ from the skin and
background just outside. These statistics do not describe *who* is in the crop, only whether
the grain is the same on both sides of the face's edge.

Features of one aligned 128 px crop (:data:`doppelab.detect.data.NET_SIZE`), computed on
concentric rings of signed distance to the face hull (the rings of
:func:`doppelab.detect.frequency.ring_features`, -8..+25 px, 3 px apart):

* five profiles per ring: log luma noise (the truncated residual of a 3x3 median denoiser, so
  edges do not count), log chroma high-pass (YCrCb, Gaussian sigma 1), the ring's mean of the
  log local noise level (7x7 windows), and the correlation of the R/G and G/B residuals;
* for each profile: the largest and the mean step between neighbouring rings (a seam),
  the inner rings minus the outer rings (a re-synthesised interior), and the inner value;
* the spread of the local noise level inside the face (std and 90-10 percentile range) and the
  median local noise inside minus outside.

Shape: :func:`residual_features` ``(S, S, 3)`` uint8 + ``(478, 2)`` -> ``(N_RESIDUAL,)``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
RING_EDGES = np.arange(-8, 25, 3)  # ring edges (px of signed distance), shared with frequency
PROFILES = 5
N_RESIDUAL = 4 * PROFILES + 3
TRUNCATE = 6.0  # grey levels: a residual above this is an edge, not noise
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def signed_distance(landmarks: F32, size: int) -> F32:
    """Signed distance (px) to the convex hull of the 468 mesh points: positive inside.

    Shape: ``(478, 2)`` -> ``(size, size)``."""
    hull = cv2.convexHull(landmarks[:468, :2].astype(np.float32)).reshape(-1, 1, 2)
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(hull).astype(np.int32)], (1,))
    inside = cv2.distanceTransform(face, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - face, cv2.DIST_L2, 5)
    return np.asarray(np.where(face > 0, inside, -outside), np.float32)


def _residual_maps(crop: npt.NDArray[np.uint8]) -> tuple[F32, F32, F32, F32]:
    """Colour residual (S, S, 3), truncated luma noise, log chroma high-pass, log local noise."""
    r = crop.astype(np.float32) - cv2.medianBlur(crop, 3).astype(np.float32)
    noise = np.minimum(np.abs(r @ LUMA), TRUNCATE)
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.float32)[..., 1:]
    chroma = np.log1p(np.abs(ycc - cv2.GaussianBlur(ycc, (0, 0), 1.0)).sum(-1))
    local = np.log(cv2.blur(noise, (7, 7)) + 0.05)
    return r, noise, chroma, local


def ring_profiles(maps: tuple[F32, F32, F32, F32], signed: F32) -> F64:
    """The five residual profiles per ring from :func:`_residual_maps`.

    Shape: ``(rings, PROFILES)``, outermost ring first."""
    r, noise, chroma, local = maps
    ring = np.digitize(signed, RING_EDGES).ravel()
    nb = len(RING_EDGES) + 1
    a, b, c = (r[..., k].ravel().astype(np.float64) for k in range(3))
    chans = [noise.ravel(), chroma.ravel(), local.ravel(), a * b, b * c, a * a, b * b, c * c]
    count = np.maximum(np.bincount(ring, minlength=nb)[1:-1], 1)
    m = np.stack(
        [np.bincount(ring, weights=ch, minlength=nb)[1:-1] / count for ch in chans], axis=1
    )
    corr_rg = m[:, 3] / np.sqrt(m[:, 5] * m[:, 6] + 1e-6)
    corr_gb = m[:, 4] / np.sqrt(m[:, 6] * m[:, 7] + 1e-6)
    return np.stack([np.log(m[:, 0] + 0.05), m[:, 1], m[:, 2], corr_rg, corr_gb], axis=1)


def residual_features(crop: npt.NDArray[np.uint8], landmarks: F32) -> F64:
    """Noise-residual consistency features of one crop (see the module doc).

    Shape: ``(S, S, 3)`` uint8, ``(478, 2)`` in crop pixels -> ``(N_RESIDUAL,)``."""
    signed = signed_distance(landmarks, crop.shape[0])
    maps = _residual_maps(crop)
    prof = ring_profiles(maps, signed)
    steps = np.abs(np.diff(prof, axis=0))
    inner, outer = prof[-3:].mean(axis=0), prof[:2].mean(axis=0)
    local = maps[3].ravel()
    sd = signed.ravel()
    li = local[sd > 12] if (sd > 12).any() else np.zeros(1)
    lo = local[sd < -4] if (sd < -4).any() else np.zeros(1)
    spread = [li.std(), np.percentile(li, 90) - np.percentile(li, 10)]
    contrast = np.median(li) - np.median(lo)
    last = prof[-2:].mean(axis=0)
    return np.r_[steps.max(axis=0), steps.mean(axis=0), inner - outer, last, spread, contrast]
