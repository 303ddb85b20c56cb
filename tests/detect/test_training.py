"""Training pieces on tiny generated inputs: pairs, a few BlendNet steps, export, temporal stats,
pseudo-fake videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doppelab.detect.data import FaceTable
from doppelab.detect.temporal import NAMES, anomaly, blinks, fit_stats
from doppelab.detect.train_blend import TrainConfig, load_checkpoint, make_pairs, train


def _table(astronaut_face: tuple, n: int = 8) -> FaceTable:
    crop, lm = astronaut_face
    rng = np.random.default_rng(0)
    crops = np.stack(
        [np.clip(crop.astype(int) + rng.integers(-8, 8), 0, 255).astype(np.uint8) for _ in range(n)]
    )
    ids = np.array([f"p{i % 4}" for i in range(n)])
    return FaceTable(
        crops=crops,
        landmarks=np.stack([lm[:, :2]] * n),
        identity=ids,
        source=np.full(n, "syn"),
        media=np.full(n, "m"),
        holdout=np.arange(n) % 4 == 0,
        dev=np.zeros(n, bool),
    )


def test_make_pairs_shapes(astronaut_face: tuple) -> None:
    t = _table(astronaut_face)
    x, y, maps = make_pairs(t, np.arange(4), np.random.default_rng(0))
    assert x.shape == (8, 128, 128, 3) and y.tolist() == [0] * 4 + [1] * 4
    assert maps.shape == (8, 32, 32) and maps[:4].max() == 0 and maps[4:].max() > 0.2


def test_train_checkpoint_export(astronaut_face: tuple, tmp_path: Path) -> None:
    t = _table(astronaut_face)
    cfg = TrainConfig(minutes=0.03, batch=8, eval_every=1e9, eval_faces=4)
    out = train(t, tmp_path / "run", cfg)
    assert out["steps"] >= 1 and (tmp_path / "run" / "best.pt").is_file()
    model, meta = load_checkpoint(tmp_path / "run" / "last.pt")
    assert meta["train"]["batch"] == 8
    pytest.importorskip("onnx")
    from doppelab.detect.base import FaceBatch
    from doppelab.detect.blend import BlendDetector, export_onnx, pack_state

    export_onnx(model, tmp_path / "m.onnx")
    np.savez(tmp_path / "m.npz", **pack_state(model))
    batch = FaceBatch(crops=t.crops[:2], landmarks=t.landmarks[:2])
    a = BlendDetector(onnx_path=tmp_path / "m.onnx").forward(batch)["logits"]
    b = BlendDetector(backend="torch", state_path=tmp_path / "m.npz").forward(batch)["logits"]
    assert np.allclose(a, b, atol=0.05)


def test_temporal_stats_and_blinks() -> None:
    rng = np.random.default_rng(0)
    meas = [{n: float(abs(rng.normal(1.0, 0.1))) for n in NAMES} for _ in range(30)]
    stats = fit_stats(meas)
    assert set(stats["features"]) == set(NAMES) and stats["q95"] >= 0
    normal, _ = anomaly(meas[0], stats)
    odd = dict(meas[0], landmark_jitter=50.0, pose_gap=40.0)
    assert anomaly(odd, stats)[0] > normal
    t = np.arange(250) / 25.0
    ear = np.full(250, 0.3)
    ear[[50, 51, 150, 151, 152]] = 0.1
    rate, dur = blinks(ear, t)
    assert rate == pytest.approx(12.0) and dur == pytest.approx(0.1)


def test_fake_video(astronaut_video: Path, tmp_path: Path) -> None:
    from doppelab.core.media import iter_frames
    from doppelab.detect.fakevideo import write_video

    real = write_video(astronaut_video, tmp_path / "real.mp4", seed=None)
    fake = write_video(astronaut_video, tmp_path / "fake.mp4", seed=3)
    fr = [f.image for f in iter_frames(real)]
    fk = [f.image for f in iter_frames(fake)]
    assert len(fr) == len(fk) == 12
    diff = np.abs(fr[5].astype(int) - fk[5].astype(int)).mean(axis=2)
    h, w = diff.shape
    assert diff[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean() > diff[:20, :20].mean() + 1


def test_make_pairs_real_transform(astronaut_face: tuple) -> None:
    t = _table(astronaut_face)
    plain, _, _ = make_pairs(t, np.arange(4), np.random.default_rng(0), aug=False)
    changed, y, maps = make_pairs(
        t, np.arange(4), np.random.default_rng(0), aug=False, real_transform=1.0
    )
    assert np.array_equal(plain[:4], t.crops[:4])  # reals untouched by default
    assert not np.array_equal(changed[:4], t.crops[:4])
    assert maps[:4].max() == 0 and y[:4].max() == 0  # still real: no seam, label 0


def test_codec_batches(astronaut_face: tuple) -> None:
    """--codec P sends that share of a batch's images through H.264; reproducible by seed."""
    from doppelab.detect.train_blend import make_batch

    t = _table(astronaut_face)
    plain = make_batch(t, None, np.random.default_rng(4), TrainConfig(batch=8))
    coded = make_batch(t, None, np.random.default_rng(4), TrainConfig(batch=8, codec=1.0))
    again = make_batch(t, None, np.random.default_rng(4), TrainConfig(batch=8, codec=1.0))
    assert coded[0].shape == plain[0].shape and np.array_equal(coded[1], plain[1])
    assert np.array_equal(coded[0], again[0]) and not np.array_equal(coded[0], plain[0])


def test_train_from_init(astronaut_face: tuple, tmp_path: Path) -> None:
    t = _table(astronaut_face)
    cfg = TrainConfig(minutes=0.03, batch=8, eval_every=1e9, eval_faces=4, max_steps=1)
    train(t, tmp_path / "a", cfg)
    again = TrainConfig(
        minutes=0.03,
        batch=8,
        eval_every=1e9,
        eval_faces=4,
        max_steps=1,
        init=str(tmp_path / "a" / "last.pt"),
        real_transform=0.5,
        snapshots=True,
    )
    out = train(t, tmp_path / "b", again)
    assert out["steps"] == 1 and (tmp_path / "b" / "last.pt").is_file()
    snaps = sorted(p.name for p in (tmp_path / "b").glob("snap_*.pt"))
    assert snaps == [f"snap_{out['images_seen']:07d}.pt"]  # the final evaluation's EMA weights
    assert not list((tmp_path / "a").glob("snap_*.pt"))  # only when asked


def test_frequency_stage_reports_every_accuracy_at_logit_zero(
    astronaut_face: tuple, tmp_path: Path
) -> None:
    from doppelab.detect.data import save_table
    from doppelab.detect.recipe import stage_frequency
    from doppelab.detect.swapfakes import SwapTable, save_swap_table

    table = _table(astronaut_face, n=12)
    save_table(table, tmp_path / "train_table.npz")
    save_table(table, tmp_path / "dev_table.npz")
    n = len(table)
    words = np.full(n, "x")
    swaps = SwapTable(crops=table.crops, landmarks=table.landmarks.astype(np.float32),
                      label=np.arange(n) % 2, method=words, target=words, source=words,
                      video=words, holdout=np.arange(n) % 3 == 0)
    save_swap_table(swaps, tmp_path / "swap_table.npz")
    metrics = stage_frequency(tmp_path)
    assert set(metrics) == {"holdout", "dev", "holdout_swap"}
    # the classifier gives logits, so every row's accuracy is taken at 0 (P = 0.5)
    assert all(m["threshold"] == 0.0 for m in metrics.values())
    assert (tmp_path / "model" / "frequency.npz").exists()
