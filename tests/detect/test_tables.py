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
