"""Fixtures of the detection tests: the astronaut's aligned face (landmarks from FaceMesh) and a
one-person FaceTable of it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from doppelab.detect.data import FaceTable, net_face
from doppelab.extract.landmarks import FaceTracker, TrackerConfig


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face as the detectors see it: a (128, 128, 3) crop and its (478, 2)
    landmarks in crop pixels."""
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        faces = tracker.process(astronaut)
    assert faces, "FaceMesh must find the astronaut's face"
    return net_face(astronaut, faces[0].landmarks)


@pytest.fixture(scope="session")
def one_person_table(
    astronaut_face: tuple[np.ndarray, np.ndarray],
) -> Callable[[npt.ArrayLike], FaceTable]:
    """Builds a train-split FaceTable of the astronaut's face repeated (one person, ``"a"``) from
    its ``holdout`` column (one row per entry)."""
    crop, lm = astronaut_face

    def make(holdout: npt.ArrayLike) -> FaceTable:
        held = np.asarray(holdout, bool)
        n = len(held)
        return FaceTable(
            crops=np.stack([crop] * n),
            landmarks=np.stack([lm] * n),
            identity=np.full(n, "a"),
            source=np.full(n, "x"),
            media=np.full(n, "m"),
            holdout=held,
            dev=np.zeros(n, bool),
        )

    return make
