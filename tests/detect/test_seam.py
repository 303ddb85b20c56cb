"""SeamNet: boundary patches, the patch network, its training loop and the shipped detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from doppelab.detect.base import FaceBatch, create_detector
from doppelab.detect.data import FaceTable
from doppelab.detect.seam import (
    K_HULL,
    PATCH,
    SeamNet,
    extract_patches,
    face_scores,
    pack,
    patch_centres,
    seam_in_patches,
    unpack,
)
from doppelab.detect.seam_train import SeamTrainConfig, patch_batch, train_seam
from doppelab.detect.selfblend import self_blend


def test_smoke_shape() -> None:
    logits = SeamNet()(torch.zeros(5, 3, PATCH, PATCH))
    assert logits.shape == (5,)


def test_patch_centres_inside_crop(astronaut_face: tuple) -> None:
    _, lm = astronaut_face
    c = patch_centres(lm)
    assert c.shape == (2 * K_HULL, 2)
    assert (c >= PATCH / 2).all() and (c <= 128 - PATCH / 2).all()
    # the shrunken ring lies closer to the face centre than the hull ring
    centre = lm[:468].mean(axis=0)
    d = np.linalg.norm(c - centre, axis=1)
    assert d[K_HULL:].mean() < d[:K_HULL].mean()


def test_extract_and_seam_labels(astronaut_face: tuple) -> None:
    crop, lm = astronaut_face
    p = extract_patches(crop[None], lm[None])
    assert p.shape == (1, 2 * K_HULL, PATCH, PATCH, 3) and p.dtype == np.uint8
    assert not seam_in_patches(np.zeros((128, 128), np.float32), lm).any()
    fake = self_blend(crop, lm, np.random.default_rng(3))
    assert seam_in_patches(fake.boundary, lm).any()  # the seam runs near the hull somewhere


def test_roundtrip_pack(astronaut_face: tuple) -> None:
    crop, lm = astronaut_face
    model = SeamNet().eval()
    again = unpack(pack(model))
    a, pa = face_scores(model, crop[None], lm[None])
    b, pb = face_scores(again, crop[None], lm[None])
    assert np.allclose(a, b) and pa.shape == (1, 2 * K_HULL)


def _table(astronaut_face: tuple, n: int = 8) -> FaceTable:
    crop, lm = astronaut_face
    rng = np.random.default_rng(0)
    crops = np.stack(
        [np.clip(crop.astype(int) + rng.integers(-8, 8), 0, 255).astype(np.uint8) for _ in range(n)]
    )
    return FaceTable(
        crops=crops,
        landmarks=np.stack([lm[:, :2]] * n),
        identity=np.array([f"p{i % 4}" for i in range(n)]),
        source=np.full(n, "syn"),
        media=np.full(n, "m"),
        holdout=np.arange(n) % 4 == 0,
        dev=np.zeros(n, bool),
    )


def test_patch_batch_balanced(astronaut_face: tuple) -> None:
    x, y = patch_batch(_table(astronaut_face), np.arange(4), np.random.default_rng(1), 0.5)
    assert x.shape[1:] == (PATCH, PATCH, 3) and len(x) == len(y)
    assert (y == 1).sum() > 0 and (y == 0).sum() == (y == 1).sum()


def test_train_writes_weights(astronaut_face: tuple, tmp_path: Path) -> None:
    cfg = SeamTrainConfig(minutes=5.0, max_steps=2, faces=4, eval_faces=2, eval_every=1e9)
    out = train_seam(_table(astronaut_face), tmp_path, cfg)
    assert out["steps"] == 2 and (tmp_path / "seam.npz").is_file()
    assert (tmp_path / "seam_log.jsonl").read_text().count("\n") >= 1


def test_shipped_detector(astronaut_face: tuple) -> None:
    crop, lm = astronaut_face
    det = create_detector("seam")
    assert det.level == "face" and det.describe()["name"] == "seam"
    fakes = [self_blend(crop, lm, np.random.default_rng(s)).image for s in range(6)]
    out = det.forward(FaceBatch(crops=np.stack([crop, *fakes]), landmarks=np.stack([lm] * 7)))
    assert out["logits"].shape == (7,) and out["features"].shape == (7, 3)
    assert np.isfinite(out["logits"]).all()
    assert out["logits"][1:].mean() > out["logits"][0]  # self-blends look more seamed
    empty = det.forward(FaceBatch(crops=crop[None][:0], landmarks=lm[None][:0]))
    assert empty["logits"].shape == (0,)


def test_missing_weights_is_typed_error(tmp_path: Path) -> None:
    from doppelab.core.errors import UsageError

    with pytest.raises(UsageError):
        create_detector("seam", path=tmp_path / "none.npz")
