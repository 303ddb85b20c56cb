"""The one typed data model passed between stages.

Convention: images are ``(H, W, 3)`` uint8 RGB; masks ``(H, W)`` float32 in ``[0, 1]``; points are
``(x, y)`` in pixels with the origin at the top-left pixel's centre; affine transforms are
``(2, 3)`` float32 matrices named by direction (``crop_from_frame`` maps frame px to crop px).
Arrays are treated as read-only once built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

ImageU8 = npt.NDArray[np.uint8]
MaskF32 = npt.NDArray[np.float32]
Affine = npt.NDArray[np.float32]
Landmarks = npt.NDArray[np.float32]
Embedding = npt.NDArray[np.float32]

MediaKind = Literal["image", "video"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameRef:
    """Where a frame came from: media id (a stable string), frame index and timestamp in seconds."""

    media_id: str
    index: int
    timestamp: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """A decoded frame. Shape: image ``(H, W, 3)`` uint8 RGB, already rotated upright."""

    ref: FrameRef
    image: ImageU8


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioInfo:
    """The first audio stream of a media file."""

    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaInfo:
    """What probing a media file tells. ``width``/``height`` are after rotation (display size)."""

    path: Path
    kind: MediaKind
    width: int
    height: int
    fps: float | None = None
    frames: int | None = None
    duration: float | None = None
    video_codec: str | None = None
    container: str | None = None
    rotation: int = 0
    audio: AudioInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BBox:
    """Axis-aligned box in frame pixels with the detector's score in ``[0, 1]``."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def size(self) -> float:
        """Geometric mean of width and height."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Quality:
    """Per-face quality. Angles in degrees; ``size`` is the face box size in frame pixels;
    ``blur`` the variance of the Laplacian on the aligned crop (higher is sharper);
    ``eye_open`` the mean eye aspect ratio (about 0.25-0.35 open, under 0.15 closed)."""

    blur: float
    size: float
    yaw: float
    pitch: float
    roll: float
    score: float
    eye_open: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Face:
    """One face in one frame; the transform travels with the crop."""

    source: FrameRef
    bbox: BBox
    landmarks: Landmarks  # (478, 3) float32, frame pixels (z in the same scale as x)
    crop_from_frame: Affine  # (2, 3) float32
    crop: ImageU8 | None = None  # (S, S, 3)
    mask: MaskF32 | None = None  # (S, S)
    identity: Embedding | None = None  # (D,) L2-normalised
    quality: Quality | None = None
    track_id: int = -1
    person_id: int = -1
    extra: dict[str, float] = field(default_factory=dict)
