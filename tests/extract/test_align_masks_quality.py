from __future__ import annotations

import cv2
import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.core.geometry import transform_points
from doppelab.extract.align import AlignConfig, align, template
from doppelab.extract.identity import IdentityEmbedder, cluster_people
from doppelab.extract.landmarks import FaceTracker, TrackerConfig
from doppelab.extract.masks import PART_BITS, face_mask, part_mask, parts_map
from doppelab.extract.pose import head_pose, mean_face
from doppelab.extract.quality import QualityFilter, eye_aspect_ratio, measure, sharpness
from doppelab.extract.topology import STABLE_POINTS


@pytest.fixture(scope="module")
def face(astronaut: np.ndarray):
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        return tracker.process(astronaut)[0]


def test_align_config_guards() -> None:
    with pytest.raises(UsageError):
        AlignConfig(size=32)
    with pytest.raises(UsageError):
        AlignConfig(size=2048)
    with pytest.raises(UsageError):
        AlignConfig(coverage=0.1)


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_align_puts_stable_points_on_template(astronaut: np.ndarray, face, size: int) -> None:
    crop, m, lm_crop = align(astronaut, face.landmarks, AlignConfig(size=size))
    assert crop.shape == (size, size, 3) and m.shape == (2, 3)
    stable = list(STABLE_POINTS)
    err = np.linalg.norm(lm_crop[stable, :2] - template(size, 0.75)[stable], axis=1)
    assert err.mean() < 0.05 * size
    np.testing.assert_allclose(lm_crop, transform_points(m, face.landmarks), atol=1e-3)


def test_template_is_read_only_and_centred() -> None:
    t = template(256, 0.75)
    assert not t.flags.writeable
    span = t[:468].max(axis=0) - t[:468].min(axis=0)
    assert span.max() == pytest.approx(0.75 * 256, rel=1e-3)


def test_face_mask_soft_edge(astronaut: np.ndarray, face) -> None:
    _, _, lm = align(astronaut, face.landmarks, AlignConfig(size=256))
    mask = face_mask(lm, 256, feather=0.05)
    assert mask.dtype == np.float32 and mask.shape == (256, 256)
    assert mask.min() == 0.0 and mask.max() == pytest.approx(1.0)
    assert mask[128, 128] == pytest.approx(1.0)
    assert mask[0, 0] == 0.0
    soft = ((mask > 0.02) & (mask < 0.98)).sum()
    assert soft > 500  # a real ramp, not a hard edge
    hard = face_mask(lm, 256, feather=0.0)
    assert set(np.unique(hard)) <= {0.0, 1.0} or hard.max() == 1.0


def test_parts_map_has_every_part_in_the_right_place(astronaut: np.ndarray, face) -> None:
    _, _, lm = align(astronaut, face.landmarks, AlignConfig(size=256))
    parts = parts_map(lm, 256)
    for name in PART_BITS:
        m = part_mask(parts, (name,))
        assert m.sum() > 5, name
    eyes_y = np.nonzero(part_mask(parts, ("eyes",)))[0].mean()
    mouth_y = np.nonzero(part_mask(parts, ("mouth",)))[0].mean()
    nose_y = np.nonzero(part_mask(parts, ("nose",)))[0].mean()
    assert eyes_y < nose_y < mouth_y
    soft = part_mask(parts, ("eyes", "mouth"), feather_px=2.0)
    assert soft.min() + 1e-9 > 0 or soft.max() <= 1.0
    with pytest.raises(ValueError):
        part_mask(parts, ("ears",))


def test_head_pose_of_rotated_photo(astronaut: np.ndarray, face) -> None:
    yaw0, pitch0, roll0 = head_pose(face.landmarks)
    h, w = astronaut.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), -20, 1.0)  # 20 degrees clockwise
    turned = cv2.warpAffine(astronaut, rot, (w, h), borderMode=cv2.BORDER_REFLECT101)
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        f2 = tracker.process(turned)[0]
    _, _, roll1 = head_pose(f2.landmarks)
    assert roll1 - roll0 == pytest.approx(20, abs=3)
    assert abs(yaw0) < 30 and abs(pitch0) < 30
    mf = mean_face()
    assert head_pose(mf * 100) == pytest.approx((0, 0, 0), abs=1e-3)


def test_quality_measures(astronaut: np.ndarray, face) -> None:
    crop, _, _ = align(astronaut, face.landmarks, AlignConfig())
    q = measure(crop, face.landmarks, face.bbox)
    assert 0.15 < q.eye_open < 0.45
    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    assert sharpness(blurred) < 0.3 * sharpness(crop)
    closed = face.landmarks.copy()
    for eye in ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380)):
        closed[list(eye), 1] = closed[list(eye), 1].mean()  # lids shut onto one line
    assert eye_aspect_ratio(closed) < 0.4 * q.eye_open
    assert QualityFilter().reason(q) is None
    assert QualityFilter(min_size=q.size + 1).reason(q) == "small"
    assert QualityFilter(min_blur=q.blur * 2).reason(q) == "blurry"
    assert QualityFilter(max_yaw=abs(q.yaw) / 2 - 0.01).reason(q) in (None, "yaw")


def test_identity_same_person_close_other_far(astronaut: np.ndarray, face) -> None:
    emb = IdentityEmbedder()
    a = emb.embed(astronaut, face.landmarks)
    assert a.shape == (128,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    bright = np.clip(astronaut.astype(int) * 1.2 + 10, 0, 255).astype(np.uint8)
    b = emb.embed(bright, face.landmarks)
    assert float(a @ b) > 0.8
    shuffled = astronaut.copy()
    rng = np.random.default_rng(1)
    shuffled[60:260, 150:330] = rng.integers(0, 255, (200, 180, 3), dtype=np.uint8)
    c = emb.embed(shuffled, face.landmarks)
    assert float(a @ c) < 0.5


def test_cluster_people() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    pts = np.repeat(centres, 4, axis=0) + rng.normal(scale=0.03, size=(12, 128))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    labels = cluster_people(pts.astype(np.float32))
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert cluster_people(np.zeros((0, 128), np.float32)).shape == (0,)
    assert cluster_people(pts[:1].astype(np.float32)).tolist() == [0]
