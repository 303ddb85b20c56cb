"""Face and part masks from landmarks in crop pixels.

The face mask is the convex hull of the 468 mesh points (forehead to chin), with a soft edge that
falls to zero at the hull: ``feather`` is the width of the ramp as a share of the crop side.
Parts are stored compactly as a bitfield (one ``uint8`` per pixel, :data:`PART_BITS`) and turned
into soft masks on demand with :func:`part_mask`.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.types import Landmarks, MaskF32
from doppelab.extract.topology import contours

PART_BITS: dict[str, int] = {
    "eyes": 1,
    "brows": 2,
    "nose": 4,
    "mouth": 8,
    "inner_mouth": 16,
    "irises": 32,
}
U8 = npt.NDArray[np.uint8]


def _poly(pts: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    # 4 bits of sub-pixel precision for cv2's polygon fill
    out: npt.NDArray[np.int32] = np.round(pts[:, :2] * 16).astype(np.int32).reshape(-1, 1, 2)
    return out


def _hull(pts: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.convexHull(pts[:, :2].astype(np.float32)).reshape(-1, 2), np.float32)


def face_mask(landmarks: Landmarks, size: int, feather: float = 0.04) -> MaskF32:
    """Soft face-hull mask ``(size, size)`` float32 in [0, 1]."""
    hard = np.zeros((size, size), np.uint8)
    cv2.fillPoly(hard, [_poly(_hull(landmarks[:468]))], (255,), cv2.LINE_AA, shift=4)
    ramp = max(round(feather * size), 0)
    if ramp < 2:
        return np.asarray(hard, np.float32) / 255.0
    # distance inside the hull, ramped over `ramp` pixels: exactly 0 at the edge, 1 inside
    dist = cv2.distanceTransform((hard > 127).astype(np.uint8), cv2.DIST_L2, 5)
    soft = np.clip(dist / ramp, 0.0, 1.0)
    return np.asarray(soft * soft * (3.0 - 2.0 * soft), dtype=np.float32)  # smoothstep


def parts_map(landmarks: Landmarks, size: int) -> U8:
    """Bitfield ``(size, size)`` uint8 of the face parts (see :data:`PART_BITS`)."""
    c = contours()
    out = np.zeros((size, size), np.uint8)
    groups = {
        "eyes": [landmarks[c.right_eye], landmarks[c.left_eye]],
        "brows": [_hull(landmarks[c.right_brow]), _hull(landmarks[c.left_brow])],
        "nose": [_hull(landmarks[c.nose])],
        "mouth": [landmarks[c.lips_outer]],
        "inner_mouth": [landmarks[c.lips_inner]],
    }
    if len(landmarks) >= 478:
        groups["irises"] = [_hull(landmarks[468:473]), _hull(landmarks[473:478])]
    for name, polys in groups.items():
        layer = np.zeros_like(out)
        cv2.fillPoly(layer, [_poly(p) for p in polys], (1,), cv2.LINE_8, shift=4)
        out |= layer * np.uint8(PART_BITS[name])
    return out


def part_mask(parts: U8, names: tuple[str, ...], feather_px: float = 0.0) -> MaskF32:
    """Soft mask of the union of the named parts from a bitfield; Gaussian-feathered edges."""
    unknown = [n for n in names if n not in PART_BITS]
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; known: {sorted(PART_BITS)}")
    bits = np.uint8(sum(PART_BITS[n] for n in names))
    mask = ((parts & bits) > 0).astype(np.float32)
    if feather_px > 0:
        return np.asarray(cv2.GaussianBlur(mask, (0, 0), sigmaX=feather_px), dtype=np.float32)
    return mask
