"""Similarity transforms between frames and aligned crops.

Convention: points are ``(x, y)`` pixels; an affine is a ``(2, 3)`` float32 matrix ``A`` mapping
``p -> A[:, :2] @ p + A[:, 2]``. Names say the direction (``crop_from_frame``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.types import Affine, ImageU8, MaskF32

FloatArray = npt.NDArray[np.floating[Any]]


def estimate_similarity(
    src: FloatArray, dst: FloatArray, weights: FloatArray | None = None
) -> Affine:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    Closed form (Umeyama 1991) with optional per-point weights; no reflection.

    Shape: ``src`` and ``dst`` are ``(N, 2)`` with N >= 2; returns ``(2, 3)`` float32.
    """
    src64 = np.asarray(src, dtype=np.float64)[:, :2]
    dst64 = np.asarray(dst, dtype=np.float64)[:, :2]
    if src64.shape != dst64.shape or src64.shape[0] < 2:
        raise ValueError(f"need two (N>=2, 2) point sets, got {src64.shape} and {dst64.shape}")
    w = np.ones(len(src64)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ src64
    mu_d = w @ dst64
    s_c = src64 - mu_s
    d_c = dst64 - mu_d
    cov = (d_c * w[:, None]).T @ s_c
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = float(w @ (s_c**2).sum(axis=1))
    if var_s <= 0.0:
        raise ValueError("source points are all identical")
    scale = float((sig * d).sum() / var_s)
    out = np.empty((2, 3), dtype=np.float64)
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - scale * rot @ mu_s
    return out.astype(np.float32)


def _inverse64(m: Affine) -> npt.NDArray[np.float64]:
    (a, b, tx), (c, d, ty) = np.asarray(m, dtype=np.float64)
    det = a * d - b * c
    if det == 0.0:
        raise ValueError("affine transform is singular")
    return np.array([[d / det, -b / det, (b * ty - d * tx) / det],
                     [-c / det, a / det, (c * tx - a * ty) / det]])


def invert_affine(m: Affine) -> Affine:
    """Exact inverse of a ``(2, 3)`` affine (closed form in float64)."""
    inv: Affine = _inverse64(m).astype(np.float32)
    return inv


def compose(a_from_b: Affine, b_from_c: Affine) -> Affine:
    """``a_from_c = a_from_b ∘ b_from_c``."""
    a = np.vstack([np.asarray(a_from_b, dtype=np.float64), [0.0, 0.0, 1.0]])
    b = np.vstack([np.asarray(b_from_c, dtype=np.float64), [0.0, 0.0, 1.0]])
    out: Affine = (a @ b)[:2].astype(np.float32)
    return out


def transform_points(m: Affine, points: FloatArray) -> npt.NDArray[np.float32]:
    """Apply ``m`` to ``(N, 2)`` or ``(N, 3)`` points; a z column is scaled by ``m``'s scale."""
    pts = np.asarray(points, dtype=np.float64)
    m64 = np.asarray(m, dtype=np.float64)
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ m64[:, :2].T + m64[:, 2]
    if pts.shape[1] == 3:
        out[:, 2] = pts[:, 2] * affine_scale(m)
    return out.astype(np.float32)


def affine_scale(m: Affine) -> float:
    """Uniform scale of a similarity (square root of the determinant of its linear part)."""
    lin = np.asarray(m, dtype=np.float64)[:, :2]
    return float(np.sqrt(abs(np.linalg.det(lin))))


def warp_to_crop(frame: ImageU8, crop_from_frame: Affine, size: int) -> ImageU8:
    """Cut the aligned ``(size, size, 3)`` crop out of ``frame`` (bilinear, reflected border)."""
    out = cv2.warpAffine(
        frame,
        np.asarray(crop_from_frame, dtype=np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT101,
    )
    return np.asarray(out, dtype=np.uint8)


def paste_back(
    frame: ImageU8, crop: ImageU8, mask: MaskF32, crop_from_frame: Affine
) -> ImageU8:
    """Blend ``crop`` into a copy of ``frame`` through ``mask`` using the exact inverse transform.

    Only the frame region the crop covers is warped and blended (the rest is copied).

    Shape: ``frame`` (H, W, 3) uint8, ``crop`` (S, S, 3) uint8, ``mask`` (S, S) float32 in [0, 1].
    """
    h, w = frame.shape[:2]
    size = crop.shape[0]
    m64 = np.asarray(crop_from_frame, dtype=np.float64)
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    inv = _inverse64(crop_from_frame)
    span = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.maximum(np.floor(span.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(span.max(axis=0)).astype(int) + 2, (w, h))
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    # the same transform, expressed for the ROI's own pixel grid
    roi_m = m64.copy()
    roi_m[:, 2] += m64[:, 0] * x0 + m64[:, 1] * y0
    rw, rh = int(x1 - x0), int(y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(crop, roi_m, (rw, rh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(  # type: ignore[call-overload]
        np.asarray(mask, dtype=np.float32), roi_m, (rw, rh), flags=flags,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )
    a = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = cv2.blendLinear(warped, region, a, 1.0 - a)
    return out
