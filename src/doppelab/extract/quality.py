"""Per-face quality: sharpness, size, head pose, detector score and eye openness."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from doppelab.core.types import BBox, ImageU8, Landmarks, Quality
from doppelab.extract.pose import head_pose
from doppelab.extract.topology import LEFT_EYE_EAR, RIGHT_EYE_EAR

BLUR_SIDE = 128  # the Laplacian runs on the crop resized to this side, so scores compare


def sharpness(crop: ImageU8) -> float:
    """Variance of the Laplacian of the grey crop at 128 px (higher is sharper)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != BLUR_SIDE:
        grey = cv2.resize(grey, (BLUR_SIDE, BLUR_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def eye_aspect_ratio(landmarks: Landmarks) -> float:
    """Mean eye aspect ratio of both eyes (Soukupová & Čech 2016): ~0.3 open, < 0.15 closed."""
    vals: list[float] = []
    for p in (RIGHT_EYE_EAR, LEFT_EYE_EAR):
        e = landmarks[list(p), :2].astype(np.float64)
        vertical = np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])
        horizontal = 2.0 * np.linalg.norm(e[0] - e[3])
        vals.append(float(vertical / horizontal) if horizontal > 0 else 0.0)
    return float(np.mean(vals))


def measure(crop: ImageU8, landmarks: Landmarks, bbox: BBox) -> Quality:
    """Quality of one face (landmarks in frame px)."""
    yaw, pitch, roll = head_pose(landmarks)
    return Quality(
        blur=sharpness(crop),
        size=bbox.size,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        score=bbox.score,
        eye_open=eye_aspect_ratio(landmarks),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityFilter:
    """Faces failing any bound are dropped. ``None`` disables a bound."""

    min_blur: float | None = None
    min_size: float | None = None
    max_yaw: float | None = None
    max_pitch: float | None = None
    min_score: float | None = None
    min_eye_open: float | None = None

    def reason(self, q: Quality) -> str | None:
        """Why ``q`` fails, or ``None`` when it passes."""
        checks = (
            (self.min_blur, q.blur < (self.min_blur or 0), "blurry"),
            (self.min_size, q.size < (self.min_size or 0), "small"),
            (self.max_yaw, abs(q.yaw) > (self.max_yaw or 0), "yaw"),
            (self.max_pitch, abs(q.pitch) > (self.max_pitch or 0), "pitch"),
            (self.min_score, q.score < (self.min_score or 0), "score"),
            (self.min_eye_open, q.eye_open < (self.min_eye_open or 0), "eyes closed"),
        )
        for bound, failed, why in checks:
            if bound is not None and failed:
                return why
        return None
