from __future__ import annotations

import cv2
import numpy as np
import pytest

from doppelab.core.types import BBox
from doppelab.extract.landmarks import (
    FaceTracker,
    TrackerConfig,
    cut_roi,
    iou,
    landmark_box,
    roi_from_box,
)


@pytest.fixture(scope="module")
def static_tracker() -> FaceTracker:
    tracker = FaceTracker(TrackerConfig(static=True, max_faces=4))
    yield tracker
    tracker.close()


def test_smoke_astronaut_has_one_face(static_tracker: FaceTracker, astronaut: np.ndarray) -> None:
    faces = static_tracker.process(astronaut)
    assert len(faces) == 1
    lm = faces[0].landmarks
    assert lm.shape == (478, 3) and lm.dtype == np.float32
    box = faces[0].bbox
    # the face is in the upper middle of the 512x512 photo
    assert 150 < (box.x0 + box.x1) / 2 < 300 and 60 < (box.y0 + box.y1) / 2 < 220
    assert 0.5 < faces[0].score <= 1.0


def test_two_faces_side_by_side(static_tracker: FaceTracker, astronaut: np.ndarray) -> None:
    pair = np.hstack([astronaut, astronaut[:, ::-1]])
    faces = static_tracker.process(np.ascontiguousarray(pair))
    assert len(faces) == 2
    assert iou(faces[0].bbox, faces[1].bbox) == 0.0


def test_no_face_in_blank_or_noise(static_tracker: FaceTracker) -> None:
    assert static_tracker.process(np.zeros((240, 320, 3), np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert static_tracker.process(noise) == []


def test_min_face_drops_small_faces(astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((512, 512, 3), np.uint8)
    canvas[192:320, 192:320] = small
    with FaceTracker(TrackerConfig(static=True, min_face=80)) as tracker:
        assert tracker.process(canvas) == []


def test_tracking_follows_a_moving_face(astronaut: np.ndarray) -> None:
    from tests.conftest import shifted_frames

    frames = shifted_frames(astronaut, 10)
    with FaceTracker(TrackerConfig()) as tracker:
        results = [tracker.process(f) for f in frames]
    assert all(len(r) == 1 for r in results)
    assert len({r[0].track_id for r in results}) == 1


def test_cut_roi_matches_general_warp(astronaut: np.ndarray) -> None:
    box = BBox(x0=-30.0, y0=100.5, x1=200.2, y1=330.0)  # partly outside the frame
    roi, m = cut_roi(astronaut, roi_from_box(box, 1.5, 128), 128)
    # the same window by a general warp (pixel-centre convention: shift by half a pixel)
    centre = m.astype(np.float64)
    centre[:, 2] += 0.5 * np.diag(centre) - 0.5
    ref = cv2.warpAffine(
        astronaut, centre, (128, 128), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    ).astype(int)
    fast = roi.astype(int)
    inner = (slice(20, 108), slice(40, 108))
    assert np.abs(fast[inner] - ref[inner]).mean() < 2.0


def test_landmark_box_and_iou() -> None:
    pts = np.array([[0, 0, 0], [10, 20, 0]], np.float32)
    b = landmark_box(pts)
    assert (b.x0, b.y0, b.x1, b.y1) == (0, 0, 10, 20)
    assert iou(b, b) == pytest.approx(1.0)
