"""The frequency classifier file: its feature version and width must match the features."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from doppelab.core.errors import UsageError
from doppelab.detect.data import FaceTable
from doppelab.detect.frequency import FEATURES_VERSION, N_FEATURES, fit_mlp, load_classifier
from doppelab.detect.frequency_detector import FrequencyDetector


def _save(path: Path, width: int, version: int | None) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, width))
    clf = fit_mlp(x, (x[:, 0] > 0).astype(int), hidden=4, epochs=1)
    extra = {} if version is None else {"version": np.array([version])}
    np.savez(path, **clf.to_arrays(), **extra)
    return path


def test_matching_file_loads(tmp_path: Path) -> None:
    det = FrequencyDetector(path=_save(tmp_path / "f.npz", N_FEATURES, FEATURES_VERSION))
    assert det.describe()["features"] == N_FEATURES
    assert det.describe()["features_version"] == FEATURES_VERSION


def test_file_without_version_is_version_1(tmp_path: Path) -> None:
    path = _save(tmp_path / "f.npz", N_FEATURES, None)
    if FEATURES_VERSION == 1:
        assert FrequencyDetector(path=path).describe()["features"] == N_FEATURES
    else:
        with pytest.raises(UsageError, match="feature version 1"):
            FrequencyDetector(path=path)


@pytest.mark.parametrize(("width", "version"), [(N_FEATURES + 23, None), (N_FEATURES, 99)])
def test_other_features_are_refused(tmp_path: Path, width: int, version: int | None) -> None:
    with pytest.raises(UsageError, match="refit it with `doppelab detect-train`"):
        FrequencyDetector(path=_save(tmp_path / "f.npz", width, version))


@pytest.mark.parametrize(("width", "version"), [(N_FEATURES + 23, None), (N_FEATURES, 99)])
def test_the_loader_itself_refuses_other_features(
    tmp_path: Path, width: int, version: int | None
) -> None:
    """The check sits in ``load_classifier``, so every reader of ``frequency.npz`` gets it."""
    with np.load(_save(tmp_path / "f.npz", width, version)) as z:
        arrays = {k: z[k] for k in z.files}
    with pytest.raises(UsageError, match=r"^frequency classifier f\.npz was fitted on feature"):
        load_classifier(arrays, "f.npz")
    ok = {k: v for k, v in arrays.items() if k != "version"}
    ok["mean"], ok["std"] = ok["mean"][:N_FEATURES], ok["std"][:N_FEATURES]
    ok["w1"] = ok["w1"][:N_FEATURES]
    assert len(load_classifier(ok, "f.npz").mean) == N_FEATURES


def test_shipped_file_matches() -> None:
    assert FrequencyDetector().describe()["features"] == N_FEATURES


def test_fit_set_has_an_undegraded_round(
    astronaut_face: tuple[np.ndarray, np.ndarray],
    one_person_table: Callable[[npt.ArrayLike], FaceTable],
) -> None:
    """The recipe's frequency training faces: 2 degraded rounds + 1 undegraded round of
    non-holdout reals and self-blends, plus the training pair's swaps both ways."""
    from doppelab.detect.recipe import frequency_fit_set
    from doppelab.detect.swapfakes import SwapTable

    crop, lm = astronaut_face
    table = one_person_table([False, False, True])
    swaps = SwapTable(
        crops=np.stack([crop, 255 - crop, crop]),
        landmarks=np.stack([lm] * 3),
        label=np.array([0, 1, 1]),
        method=np.array(["real", "mesh", "mesh"]),
        target=np.full(3, "p"),
        source=np.full(3, "q"),
        video=np.array(["r", "f", "h"]),
        holdout=np.array([False, False, True]),
    )
    faces, y = frequency_fit_set(table, swaps)
    fit = 2  # the held-out face and the held-out swap stay out
    assert len(faces.crops) == len(y) == 3 * 2 * fit + 2 * 2
    assert y.sum() == len(y) / 2
    clean_reals = faces.crops[2 * 2 * fit + 2 : 2 * 2 * fit + 2 + fit]  # after 2 rounds + swaps
    assert all(np.array_equal(c, crop) for c in clean_reals)
    assert np.array_equal(faces.crops[-2], crop) and np.array_equal(faces.crops[-1], 255 - crop)
