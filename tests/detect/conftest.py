"""Fixtures of the detection tests: the astronaut's aligned face (landmarks from FaceMesh)."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.core.geometry import warp_to_crop
from doppelab.detect.data import CROP, net_landmarks, to_net
from doppelab.extract.align import crop_from_landmarks
from doppelab.extract.landmarks import FaceTracker, TrackerConfig


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face as the detectors see it: a (128, 128, 3) crop and its (478, 2)
    landmarks in crop pixels."""
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        faces = tracker.process(astronaut)
    assert faces, "FaceMesh must find the astronaut's face"
    lm = faces[0].landmarks
    m = crop_from_landmarks(lm, CROP)
    crop = to_net(warp_to_crop(astronaut, m, CROP.size)[None])[0]
    return crop, net_landmarks(lm[None], m[None])[0]
