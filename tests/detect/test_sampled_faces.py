"""Detect.sampled_faces: the faces ``detect`` scores, as one batch (used by the benches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.detect.predict import Detect, DetectConfig
from tests.conftest import write_video


def test_sampled_faces_are_what_run_scores(astronaut_video: Path) -> None:
    det = Detect(DetectConfig(detectors=("blend",), frames=5))
    batch = det.sampled_faces(astronaut_video)
    assert batch.crops.shape[1:] == (128, 128, 3) and batch.landmarks.shape[1:] == (478, 2)
    res = det.run(astronaut_video)
    usable = [f for f in res.faces if f.usable]
    assert 1 <= len(batch) == len(usable) <= 5
    logits = det.models["blend"].forward(batch)["logits"]
    assert np.isclose(np.mean(logits), res.detector_logits["blend"], atol=1e-5)
    frames, again = det.sampled_frames(astronaut_video)
    assert np.array_equal(again.crops, batch.crops)
    assert frames.tolist() == [f.frame for f in usable]


def test_no_face_gives_an_empty_batch(tmp_path: Path) -> None:
    grey = [np.full((96, 96, 3), 128, np.uint8)] * 4
    batch = Detect(DetectConfig(detectors=("blend",))).sampled_faces(
        write_video(tmp_path / "grey.mp4", grey))
    assert len(batch) == 0 and batch.crops.shape == (0, 128, 128, 3)
