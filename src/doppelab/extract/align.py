"""Alignment of faces to the canonical template (a similarity transform per face).

The template is the package's canonical mean face (see :mod:`doppelab.extract.pose`), frontal,
centred in an ``S x S`` crop so that the whole 468-point mesh spans ``coverage * S`` pixels along
its larger side. The fit uses only expression-stable points (eye corners, nose, forehead,
cheekbones), so the crop does not move when the mouth opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.geometry import estimate_similarity, transform_points, warp_to_crop
from doppelab.core.types import Affine, ImageU8, Landmarks
from doppelab.extract.pose import mean_face
from doppelab.extract.topology import STABLE_POINTS

MIN_SIZE, MAX_SIZE = 64, 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignConfig:
    """Crop side ``size`` (64-1024 px) and ``coverage`` (share of the crop the mesh spans)."""

    size: int = 256
    coverage: float = 0.75

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise UsageError(f"crop size must be {MIN_SIZE}-{MAX_SIZE} px, got {self.size}")
        if not 0.2 <= self.coverage <= 1.0:
            raise UsageError(f"face coverage must be 0.2-1.0, got {self.coverage}")


@cache
def template(size: int, coverage: float) -> npt.NDArray[np.float32]:
    """The mean face's 478 points in crop pixels, ``(478, 2)`` (read-only)."""
    mf = mean_face()[:468, :2].astype(np.float64)
    lo, hi = mf.min(axis=0), mf.max(axis=0)
    scale = coverage * size / float((hi - lo).max())
    centre = (lo + hi) / 2.0
    pts = (mean_face()[:, :2] - centre) * scale + size / 2.0
    out = np.asarray(pts, dtype=np.float32)
    out.setflags(write=False)
    return out


def crop_from_landmarks(landmarks: Landmarks, config: AlignConfig) -> Affine:
    """Similarity ``crop_from_frame`` that puts ``landmarks`` (frame px) on the template."""
    stable = list(STABLE_POINTS)
    return estimate_similarity(
        landmarks[stable, :2], template(config.size, config.coverage)[stable]
    )


def align(
    image: ImageU8, landmarks: Landmarks, config: AlignConfig
) -> tuple[ImageU8, Affine, Landmarks]:
    """Aligned crop, its ``crop_from_frame`` and the landmarks in crop pixels."""
    crop_from_frame = crop_from_landmarks(landmarks, config)
    crop = warp_to_crop(image, crop_from_frame, config.size)
    return crop, crop_from_frame, transform_points(crop_from_frame, landmarks)
