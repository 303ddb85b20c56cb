"""Fixtures of the detection tests: the astronaut's aligned face (landmarks from FaceMesh)."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.detect.data import net_face
from doppelab.extract.landmarks import FaceTracker, TrackerConfig


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face as the detectors see it: a (128, 128, 3) crop and its (478, 2)
    landmarks in crop pixels."""
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        faces = tracker.process(astronaut)
    assert faces, "FaceMesh must find the astronaut's face"
    return net_face(astronaut, faces[0].landmarks)
