"""Face detection (BlazeFace full range) and 478-point FaceMesh landmarks with tracking.

Both models ship inside the mediapipe 0.10.21 wheel. BlazeFace full-range finds faces anywhere
in the frame (FaceMesh's own short-range detector misses faces in large frames); each face then
gets a track that follows it with a square region of interest cut from the frame, and a FaceMesh
instance in tracking mode runs on that crop only. A track ends when FaceMesh loses the face; the
detector runs again on the next frame, and every ``redetect_every`` frames to pick up new faces.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import mediapipe as mp
import numpy as np

from doppelab.core.geometry import invert_affine, transform_points
from doppelab.core.media import check_side
from doppelab.core.types import Affine, BBox, ImageU8, Landmarks


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence MediaPipe's C++ start-up chatter (written straight to fd 2) while graphs start.

    Set ``DOPPELAB_NATIVE_LOGS=1`` to see it.
    """
    if os.environ.get("DOPPELAB_NATIVE_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerConfig:
    """Detection and tracking settings.

    ``min_face`` is the smallest face box size (px, geometric mean of width and height) kept;
    ``roi_scale`` the ROI side relative to the landmark box; ``roi_size`` the side of the crop
    FaceMesh sees.
    """

    max_faces: int = 4
    min_face: float = 32.0
    min_score: float = 0.5
    redetect_every: int = 15
    roi_scale: float = 1.6
    roi_size: int = 192  # FaceMesh's own input size: no second resize inside the graph
    static: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedFace:
    """One face in one frame: box, landmarks ``(478, 3)`` in frame px, detector score, track id."""

    bbox: BBox
    landmarks: Landmarks
    score: float
    track_id: int


@dataclass(slots=True)
class _Track:
    track_id: int
    mesh: object
    landmarks: Landmarks
    score: float
    age: int = 0


def landmark_box(landmarks: Landmarks, score: float = 1.0) -> BBox:
    """Tight box of the landmarks (frame px)."""
    x0, y0 = landmarks[:, :2].min(axis=0)
    x1, y1 = landmarks[:, :2].max(axis=0)
    return BBox(x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1), score=score)


def iou(a: BBox, b: BBox) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def roi_from_box(box: BBox, scale: float, size: int) -> Affine:
    """Square ROI (``roi_from_frame``) centred on ``box`` with side ``scale * max(w, h)``."""
    cx, cy = (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0
    side = max(box.width, box.height, 1.0) * scale
    s = size / side
    return np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy]], np.float32)


def cut_roi(image: ImageU8, roi_from_frame: Affine, size: int) -> tuple[ImageU8, Affine]:
    """The axis-aligned square ROI as a ``(size, size, 3)`` image (black outside the frame).

    Coordinates here are edge-based (0 = left edge of the first pixel), as for ``cv2.resize``.

    Slicing + resize is several times faster than a general warp for a scale + shift. The window
    is snapped to whole source pixels, so the transform actually used is returned with the image
    (map landmarks back with that one).
    """
    h, w = image.shape[:2]
    s, tx, ty = (
        float(roi_from_frame[0, 0]),
        float(roi_from_frame[0, 2]),
        float(roi_from_frame[1, 2]),
    )
    side = size / s
    x0, y0 = -tx / s, -ty / s
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    ix1, iy1 = int(np.ceil(x0 + side)), int(np.ceil(y0 + side))
    sx, sy = size / (ix1 - ix0), size / (iy1 - iy0)
    used = np.array([[sx, 0.0, -sx * ix0], [0.0, sy, -sy * iy0]], np.float32)
    sub = image[max(iy0, 0) : max(min(iy1, h), 0), max(ix0, 0) : max(min(ix1, w), 0)]
    pad = (max(-iy0, 0), max(iy1 - h, 0), max(-ix0, 0), max(ix1 - w, 0))
    if sub.size == 0:
        return np.zeros((size, size, 3), np.uint8), used
    if any(pad):
        sub = np.asarray(
            cv2.copyMakeBorder(sub, *pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)), np.uint8
        )
    # resize maps pixel centres: dst (u + 0.5) = (src + 0.5) * scale, i.e. the `used` transform
    # up to the half-pixel convention, which cancels for points mapped there and back
    roi = np.asarray(cv2.resize(sub, (size, size), interpolation=cv2.INTER_LINEAR), np.uint8)
    return roi, used


def landmarks_array(landmark_list: object) -> Landmarks:
    """``(N, 3)`` float32 normalised landmarks from a MediaPipe ``NormalizedLandmarkList``.

    Reads the serialised protobuf directly (x, y, z as fixed32 fields: 17 bytes a point),
    about 7x faster than touching each Python object; falls back when the layout differs.
    """
    raw = landmark_list.SerializeToString()  # type: ignore[attr-defined]
    buf = np.frombuffer(raw, np.uint8)
    if len(buf) % 17 == 0:
        rows = buf.reshape(-1, 17)
        if (rows[:, [0, 1, 2, 7, 12]] == [0x0A, 0x0F, 0x0D, 0x15, 0x1D]).all():
            cols = [3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16]
            return np.ascontiguousarray(rows[:, cols]).view("<f4").reshape(-1, 3).astype(np.float32)
    pts = landmark_list.landmark  # type: ignore[attr-defined]
    return np.array([(p.x, p.y, p.z) for p in pts], dtype=np.float32)


@dataclass(slots=True)
class FaceTracker:
    """Stateful detector + landmarker. Feed frames in order with :meth:`process`; close after."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    _detector: object = None
    _tracks: list[_Track] = field(default_factory=list)
    _pool: list[object] = field(default_factory=list)
    _next_id: int = 0
    _frame_no: int = 0
    _warm: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        with quiet_native_logs():
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.config.min_score
            )
            # first inference of each graph logs its delegate set-up: do it here, quietly
            self._detector.process(np.zeros((64, 64, 3), np.uint8))  # type: ignore[attr-defined]

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for obj in [self._detector, *self._pool, *(t.mesh for t in self._tracks)]:
            obj.close()  # type: ignore[attr-defined]
        self._pool.clear()
        self._tracks.clear()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: ImageU8) -> list[BBox]:
        """BlazeFace full-range boxes (frame px), largest first, filtered by ``min_face``.

        Raises:
            DimensionsTooLargeError: a side over ``MAX_SIDE`` (MediaPipe would abort the
                process); readers refuse such pictures from their headers, this catches a
                video whose frames grow after its first.
        """
        h, w = image.shape[:2]
        check_side(w, h, "a decoded frame")
        res = self._detector.process(image)  # type: ignore[attr-defined]
        boxes = []
        for det in res.detections or []:
            rb = det.location_data.relative_bounding_box
            box = BBox(
                x0=rb.xmin * w,
                y0=rb.ymin * h,
                x1=(rb.xmin + rb.width) * w,
                y1=(rb.ymin + rb.height) * h,
                score=float(det.score[0]),
            )
            if box.size >= self.config.min_face:
                boxes.append(box)
        return sorted(boxes, key=lambda b: -b.size)

    def _new_mesh(self) -> object:
        if self._pool and not self.config.static:
            return self._pool.pop()
        with quiet_native_logs():
            mesh = (
                mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True,
                    max_num_faces=1,
                    refine_landmarks=True,
                    min_detection_confidence=0.5,
                    min_tracking_confidence=0.5,
                )
                if self.config.static
                else mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=False,
                    max_num_faces=1,
                    refine_landmarks=True,
                    min_detection_confidence=0.5,
                    min_tracking_confidence=0.5,
                )
            )
            mesh.process(np.zeros((64, 64, 3), np.uint8))
        return mesh

    def _mesh_in_roi(
        self, mesh: object, image: ImageU8, box: BBox, scale: float
    ) -> Landmarks | None:
        size = self.config.roi_size
        roi, roi_from_frame = cut_roi(image, roi_from_box(box, scale, size), size)
        if id(mesh) in self._warm:
            res = mesh.process(roi)  # type: ignore[attr-defined]
        else:  # a graph's first face logs a projection warning: keep it quiet
            with quiet_native_logs():
                res = mesh.process(roi)  # type: ignore[attr-defined]
        if not res.multi_face_landmarks:
            return None
        self._warm.add(id(mesh))
        # MediaPipe's normalised coordinates are edge-based (0 = left edge of the image);
        # ours put 0 at the first pixel's centre, as warpAffine does: shift by half a pixel
        pts = landmarks_array(res.multi_face_landmarks[0]) * np.float32(size)
        frame_pts = transform_points(invert_affine(roi_from_frame), pts)
        frame_pts[:, :2] -= 0.5
        return frame_pts

    def process(self, image: ImageU8) -> list[TrackedFace]:
        """Landmarks of every tracked face in ``image`` (``(H, W, 3)`` uint8 RGB)."""
        cfg = self.config
        alive: list[_Track] = []
        for tr in self._tracks:
            lm = self._mesh_in_roi(tr.mesh, image, landmark_box(tr.landmarks), cfg.roi_scale)
            if lm is None:
                self._pool.append(tr.mesh)
                continue
            tr.landmarks, tr.age = lm, tr.age + 1
            alive.append(tr)
        lost = len(alive) < len(self._tracks)
        self._tracks = self._dedupe(alive)
        if cfg.static or lost or not self._tracks or self._frame_no % cfg.redetect_every == 0:
            self._acquire(image)
        self._frame_no += 1
        out = []
        for tr in self._tracks:
            box = landmark_box(tr.landmarks, tr.score)
            if box.size >= cfg.min_face:
                out.append(
                    TrackedFace(
                        bbox=box, landmarks=tr.landmarks, score=tr.score, track_id=tr.track_id
                    )
                )
        if cfg.static:
            self._pool.extend(t.mesh for t in self._tracks)
            self._tracks = []
        return out

    def _acquire(self, image: ImageU8) -> None:
        for box in self.detect(image):
            if len(self._tracks) >= self.config.max_faces:
                break
            if any(iou(box, landmark_box(t.landmarks)) > 0.2 for t in self._tracks):
                continue
            mesh = self._new_mesh()
            # BlazeFace boxes cover brows to mouth; the ROI must hold the whole head.
            lm = self._mesh_in_roi(mesh, image, box, 2.2)
            if lm is None or iou(box, landmark_box(lm)) < 0.2:
                self._pool.append(mesh)
                continue
            self._tracks.append(_Track(self._next_id, mesh, lm, box.score))
            self._next_id += 1

    def _dedupe(self, tracks: list[_Track]) -> list[_Track]:
        kept: list[_Track] = []
        for tr in sorted(tracks, key=lambda t: -t.age):
            if any(iou(landmark_box(tr.landmarks), landmark_box(k.landmarks)) > 0.5 for k in kept):
                self._pool.append(tr.mesh)
                continue
            kept.append(tr)
        return sorted(kept, key=lambda t: t.track_id)
