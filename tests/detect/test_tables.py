"""The training tables (real faces, generated swaps) round-trip through one .npz writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.detect.data import FaceTable, read_table, save_table
from doppelab.detect.swapfakes import SwapTable, read_swap_table, save_swap_table


def _faces(n: int) -> FaceTable:
    rng = np.random.default_rng(0)
    return FaceTable(
        crops=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        landmarks=rng.random((n, 478, 2), dtype=np.float32),
        identity=np.array([f"id{i}" for i in range(n)]), source=np.full(n, "lp"),
        media=np.array([f"m{i}.mp4" for i in range(n)]), holdout=np.arange(n) % 2 == 0,
        dev=np.zeros(n, bool),
    )


def test_roundtrip_face_table(tmp_path: Path) -> None:
    table = _faces(3)
    save_table(table, tmp_path / "t.npz")
    back = read_table(tmp_path / "t.npz")
    assert isinstance(back, FaceTable) and len(back) == 3
    for name in FaceTable.__dataclass_fields__:
        assert np.array_equal(getattr(back, name), getattr(table, name)), name
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]  # no temporary file left


def test_roundtrip_swap_table(tmp_path: Path) -> None:
    faces = _faces(2)
    table = SwapTable(crops=faces.crops, landmarks=faces.landmarks, label=np.array([0, 1]),
                      method=np.array(["real", "mesh"]), target=np.full(2, "lp_d3"),
                      source=np.full(2, "lp_d6"), video=np.array(["a.mp4", "b.mp4"]),
                      holdout=np.zeros(2, bool))
    save_swap_table(table, tmp_path / "s.npz")
    back = read_swap_table(tmp_path / "s.npz")
    assert isinstance(back, SwapTable)
    for name in SwapTable.__dataclass_fields__:
        assert np.array_equal(getattr(back, name), getattr(table, name)), name


def _swap_table(n: int = 12) -> SwapTable:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    lms = np.repeat(np.arange(n, dtype=np.float32)[:, None, None], 478, axis=1)
    lms = np.repeat(lms, 2, axis=2)  # row i carries landmarks all equal to i
    label = np.array([0, 1, 1] * (n // 3))
    words = np.full(n, "x")
    return SwapTable(crops=crops, landmarks=lms, label=label, method=words, target=words,
                     source=words, video=words, holdout=np.arange(n) % 2 == 0)


def test_swap_pair_set_builds_on_swap_draw() -> None:
    from doppelab.detect.recipe import NO_FLIP, swap_pair_set
    from doppelab.detect.train_blend import swap_draw, swap_samples

    table = _swap_table()
    for held in (True, False):
        faces, labels = swap_pair_set(table, held, seed=5)
        sub = table.subset(table.holdout == held)
        n = min(int((sub.label == 0).sum()), int((sub.label == 1).sum()))
        idx, crops, y = swap_draw(sub, n, np.random.default_rng(5), replace=False, acfg=NO_FLIP)
        assert np.array_equal(faces.crops, crops) and np.array_equal(labels, y)
        # each crop keeps its own landmarks; no row drawn twice; reals first, as many swaps
        rows = faces.landmarks[:, 0, 0].astype(int)
        assert np.array_equal(rows, np.flatnonzero(table.holdout == held)[idx])
        assert len(set(rows)) == len(rows) == 2 * n
        assert list(labels) == [0.0] * n + [1.0] * n and list(table.label[rows]) == list(labels)
    # the training sampler draws with replacement from the same helper: zero maps, 2n images
    x, y, maps = swap_samples(table, 7, np.random.default_rng(1), aug=False)
    assert x.shape == (14, 32, 32, 3) and maps.shape == (14, 32, 32) and not maps.any()
    idx, crops, _ = swap_draw(table, 7, np.random.default_rng(1), aug=False)
    assert np.array_equal(x, table.crops[idx]) and np.array_equal(x, crops)
    assert list(table.label[idx]) == list(y)
    empty, none = swap_pair_set(table.subset(table.label == 0), True, seed=5)
    assert len(empty.crops) == len(none) == 0
