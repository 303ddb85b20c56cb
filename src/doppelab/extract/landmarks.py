"""Face detection (BlazeFace full range) and 478-point FaceMesh landmarks with tracking.

Both models ship inside the mediapipe 0.10.21 wheel. BlazeFace full-range finds faces anywhere
in the frame (FaceMesh's own short-range detector misses faces in large frames); each face then
gets a track that follows it with a square region of interest cut from the frame, and a FaceMesh
instance in tracking mode runs on that crop only. A track ends when FaceMesh loses the face; the
detector runs again on the next frame, and every ``redetect_every`` frames to pick up new faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import mediapipe as mp
import numpy as np

from doppelab.core.geometry import invert_affine, transform_points
from doppelab.core.types import Affine, BBox, ImageU8, Landmarks


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
    redetect_every: int = 10
    roi_scale: float = 1.6
    roi_size: int = 256
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


@dataclass(slots=True)
class FaceTracker:
    """Stateful detector + landmarker. Feed frames in order with :meth:`process`; close after."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    _detector: object = None
    _tracks: list[_Track] = field(default_factory=list)
    _pool: list[object] = field(default_factory=list)
    _next_id: int = 0
    _frame_no: int = 0

    def __post_init__(self) -> None:
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=self.config.min_score
        )

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
        """BlazeFace full-range boxes (frame px), largest first, filtered by ``min_face``."""
        h, w = image.shape[:2]
        res = self._detector.process(image)  # type: ignore[attr-defined]
        boxes = []
        for det in res.detections or []:
            rb = det.location_data.relative_bounding_box
            box = BBox(
                x0=rb.xmin * w, y0=rb.ymin * h, x1=(rb.xmin + rb.width) * w,
                y1=(rb.ymin + rb.height) * h, score=float(det.score[0]),
            )
            if box.size >= self.config.min_face:
                boxes.append(box)
        return sorted(boxes, key=lambda b: -b.size)

    def _new_mesh(self) -> object:
        if self._pool and not self.config.static:
            return self._pool.pop()
        return mp.solutions.face_mesh.FaceMesh(
            static_image_mode=self.config.static, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=0.5, min_tracking_confidence=0.5,
        )

    def _mesh_in_roi(self, mesh: object, image: ImageU8, box: BBox, scale: float) -> Landmarks | None:
        size = self.config.roi_size
        roi_from_frame = roi_from_box(box, scale, size)
        roi = cv2.warpAffine(image, roi_from_frame.astype(np.float64), (size, size),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        res = mesh.process(roi)  # type: ignore[attr-defined]
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        pts = np.array([(p.x * size, p.y * size, p.z * size) for p in lm], dtype=np.float32)
        return transform_points(invert_affine(roi_from_frame), pts)

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
                out.append(TrackedFace(bbox=box, landmarks=tr.landmarks, score=tr.score,
                                       track_id=tr.track_id))
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
