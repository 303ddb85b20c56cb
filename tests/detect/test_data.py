"""Detection on the shared data set (skipped where ../shared/data is absent)."""

from __future__ import annotations

import pytest

from doppelab.detect.data import is_holdout, list_items
from doppelab.detect.predict import Detect, DetectConfig
from tests.conftest import DATA_DIR, requires_data

pytestmark = [requires_data(), pytest.mark.data]


def test_splits_are_disjoint_people() -> None:
    items = list_items(DATA_DIR)
    train = {i.identity for i in items if i.split == "train"}
    dev = {i.identity for i in items if i.split == "dev"}
    assert not (train & dev)
    held = {i for i in train if is_holdout(i)}
    assert 0 < len(held) < len(train) / 3
    assert sum(i.kind == "clip" and i.split == "train" for i in items) == 36


def test_detect_on_a_dev_clip() -> None:
    clip = next(i.path for i in list_items(DATA_DIR, "dev") if i.path.name == "xp_driving.mp4")
    res = Detect(DetectConfig(frames=8)).run(clip)
    assert res.kind == "video" and res.frames_sampled == 8
    assert res.probability is not None and 0.0 <= res.probability <= 1.0
    assert set(res.detectors) == {"blend", "frequency", "temporal"}
    assert len(res.timeline) >= 6
