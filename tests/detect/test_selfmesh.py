"""Self-mesh pseudo-fakes: the mesh warp lands the source on the target's mesh, the paste stays
inside the face, and training batches use them only where a row has a partner."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from doppelab.detect.selfmesh import MeshConfig, partners, self_mesh
from doppelab.detect.train_blend import TrainConfig, make_batch, make_pairs

PLAIN = MeshConfig(p_source_change=0.0, colour_modes=("none",), colour_p=(1.0,), p_poisson=0.0)


def _moved(crop: np.ndarray, lm: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """The crop and its landmarks shifted right by ``dx`` px (another 'frame' of the person)."""
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    img = cv2.warpAffine(crop, m, crop.shape[1::-1], borderMode=cv2.BORDER_REFLECT101)
    return img, (lm[:, :2] + np.float32([dx, 0])).astype(np.float32)


def test_partners() -> None:
    media = np.array(["c1", "c1", "c1", "p1", "p2", "p3", "g1", "g2"])
    ident = np.array(["x", "x", "x", "y", "y", "z", "group", "group"])
    got = [sorted(p.tolist()) for p in partners(media, ident)]
    assert got[:3] == [[1, 2], [0, 2], [0, 1]]  # same clip
    assert got[3] == [4] and got[4] == [3]  # single photos: the same identity's other photo
    assert got[5] == [] and got[6] == [] and got[7] == []  # alone; "group" is nobody


def test_warp_lands_on_target(astronaut_face: tuple) -> None:
    """A source shifted by 6 px, warped onto the target's mesh, matches the target inside the
    face (and a wrong mesh would leave a 6 px misregistration everywhere)."""
    crop, lm = astronaut_face
    src, src_lm = _moved(crop, lm, 6.0)
    s = self_mesh(crop, lm, src, src_lm, np.random.default_rng(0), PLAIN)
    inner = s.mask > 0.99
    assert inner.sum() > 0.15 * inner.size
    err = np.abs(s.image.astype(float) - crop.astype(float))[inner].mean()
    raw = np.abs(src.astype(float) - crop.astype(float))[inner].mean()
    assert err < 0.35 * raw, (err, raw)


@pytest.mark.parametrize("seed", range(5))
def test_paste_only_inside_mask(astronaut_face: tuple, seed: int) -> None:
    crop, lm = astronaut_face
    src, src_lm = _moved(crop, lm, 4.0)
    cfg = MeshConfig(p_poisson=0.0)
    s = self_mesh(crop, lm, src, src_lm, np.random.default_rng(seed), cfg)
    assert s.image.shape == crop.shape and s.image.dtype == np.uint8
    diff = np.abs(s.image.astype(int) - crop.astype(int)).max(axis=2)
    assert (diff[s.mask == 0] == 0).all()
    assert ((s.boundary > 0) == ((s.mask > 0) & (s.mask < 1))).all()
    assert s.boundary.max() == pytest.approx(1.0)


def test_batches_use_partners(one_person_table) -> None:
    """With share 1 every fake of a row with a partner is a self-mesh; rows without keep the
    self-blend, so the same draw gives the same fakes as without self-mesh."""
    table = one_person_table([False] * 6)
    table.media[:] = [f"m{i}" for i in range(6)]  # six single photos ...
    table.identity[:] = ["a", "a", "b", "c", "d", "e"]  # ... rows 0 and 1 of one person
    lonely = [np.array([], np.int64)] * 6
    idx = np.arange(6)
    base = make_pairs(table, idx, np.random.default_rng(3), aug=False)
    none = make_pairs(table, idx, np.random.default_rng(3), aug=False, mesh=(1.0, lonely))
    assert all(np.array_equal(a, b) for a, b in zip(base, none, strict=True))
    mesh = make_pairs(
        table,
        idx,
        np.random.default_rng(3),
        aug=False,
        mesh=(1.0, partners(table.media, table.identity)),
    )
    assert np.array_equal(mesh[0][:6], base[0][:6])  # reals untouched
    assert not np.array_equal(mesh[0][6:8], base[0][6:8])
    images, labels, _, _ = make_batch(
        table, None, np.random.default_rng(0), TrainConfig(batch=8, self_mesh=0.5)
    )
    assert images.shape == (8, 128, 128, 3) and labels.tolist() == [0] * 4 + [1] * 4
