"""End to end: mesh swap of images and videos (labelled), autoencoder training, resume, errors."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch

from doppelab.core.errors import (
    CheckpointError,
    FaceSetError,
    FileAccessError,
    NoFaceError,
    OutputError,
    UsageError,
)
from doppelab.core.media import iter_frames, probe, write_image
from doppelab.extract.pipeline import ExtractConfig, extract
from doppelab.provenance.keys import init_keys
from doppelab.provenance.verify import verify
from doppelab.swap.autoencoder import checkpoint
from doppelab.swap.autoencoder.model import ModelConfig
from doppelab.swap.autoencoder.train import TrainConfig, Trainer, train
from doppelab.swap.convert import SwapConfig, swap_file
from doppelab.swap.methods import create_method

TINY = ModelConfig(resolution=64, width=8, code=32)


@pytest.fixture
def lab() -> None:
    init_keys()


@pytest.fixture(scope="module")
def facesets(tmp_path_factory: pytest.TempPathFactory, astronaut_video: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fs")
    a = root / "a.faceset"
    extract([astronaut_video], a, ExtractConfig(size=64))
    return a, a  # the same person twice is enough to exercise the machinery


def _striped(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut with dark stripes painted over her face: a recognisably different texture."""
    img = astronaut.copy()
    img[84:92, 200:280] = 20  # forehead band
    img[164:170, 205:275] = 20  # chin band
    return img


def test_mesh_swap_image_is_labelled(lab: None, astronaut: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "src.png"
    write_image(src, _striped(astronaut))
    tgt = tmp_path / "tgt.jpg"
    write_image(tgt, astronaut)
    method = create_method("mesh", source=src)
    res = swap_file(method, tgt, tmp_path / "out.png", SwapConfig(), sources={"source": src})
    assert res.faces_swapped == 1 and res.path.exists()
    out = next(iter(iter_frames(res.path))).image
    assert out.shape == astronaut.shape
    diff = np.abs(out.astype(int) - astronaut.astype(int)).mean(axis=2)
    # the face changed far more than the background (which only carries the watermark)
    bands = np.concatenate([diff[84:92, 210:270].ravel(), diff[164:170, 215:265].ravel()])
    assert bands.mean() > 3 * diff[450:, :100].mean()
    v = verify(res.path)
    assert v.watermark.found and v.manifest.state == "trusted"


def test_mesh_swap_video_keeps_frames_and_rate(
    lab: None, astronaut: np.ndarray, astronaut_video: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src.png"
    write_image(src, np.ascontiguousarray(astronaut[:, ::-1]))
    method = create_method("mesh", source=src)
    res = swap_file(method, astronaut_video, tmp_path / "out.mp4", SwapConfig(blend="poisson"))
    info, orig = probe(res.path), probe(astronaut_video)
    assert info.frames == orig.frames and info.fps == pytest.approx(orig.fps)
    assert res.frames_swapped == orig.frames


def test_no_face_of_chosen_person_writes_nothing(
    lab: None, astronaut: np.ndarray, tmp_path: Path
) -> None:
    src = tmp_path / "src.png"
    write_image(src, astronaut)
    blank = tmp_path / "blank.png"
    write_image(blank, np.full((200, 200, 3), 120, np.uint8))
    method = create_method("mesh", source=src)
    with pytest.raises(NoFaceError):
        swap_file(method, blank, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(NoFaceError):
        create_method("mesh", source=blank)


def test_folder_target_is_refused(lab: None, astronaut: np.ndarray, tmp_path: Path) -> None:
    """A folder of images is not one target: a typed error, nothing written (it crashed while
    hashing the folder as the output's ingredient)."""
    src = tmp_path / "src.png"
    write_image(src, astronaut)
    folder = tmp_path / "frames"
    folder.mkdir()
    write_image(folder / "a.png", astronaut)
    method = create_method("mesh", source=src)
    with pytest.raises(FileAccessError, match="is a directory"):
        swap_file(method, folder, tmp_path / "out.png", sources={"source": src})
    assert not (tmp_path / "out.png").exists()


def test_tiny_target_is_nothing_found(lab: None, astronaut: np.ndarray, tmp_path: Path) -> None:
    """A 17x9 target cannot hold a face nor carry the label: exit 4, not a usage error."""
    src = tmp_path / "src.png"
    write_image(src, astronaut)
    tiny = tmp_path / "tiny.png"
    write_image(tiny, astronaut[:9, :17])
    method = create_method("mesh", source=src)
    with pytest.raises(NoFaceError, match="17x9 px: too small"):
        swap_file(method, tiny, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_train_resume_is_exact(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = facesets
    cfg = TrainConfig(steps=4, batch=4, save_every=2, preview_every=2, threads=1)
    straight = train(a, b, tmp_path / "m1", TINY, cfg)
    half = TrainConfig(steps=2, batch=4, save_every=2, preview_every=2, threads=1)
    train(a, b, tmp_path / "m2", TINY, half)
    resumed = train(a, b, tmp_path / "m2", TINY, cfg)
    assert resumed.resumed_from == 2 and resumed.step == 4
    w1 = checkpoint.load(tmp_path / "m1" / "weights.pt")["model"]
    w2 = checkpoint.load(tmp_path / "m2" / "weights.pt")["model"]
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k])
    assert (tmp_path / "m1" / "previews" / "step_000002.png").exists()
    assert straight.perf["flops_per_it"] > 0 and straight.perf["matmul_flops"] > 0


def test_ctrl_c_saves_a_checkpoint(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = facesets

    def interrupt(step: int, losses: dict[str, float]) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            a,
            b,
            tmp_path / "m",
            TINY,
            TrainConfig(steps=10, batch=4, save_every=100),
            progress=interrupt,
        )
    assert checkpoint.load(tmp_path / "m" / "checkpoint.pt")["step"] == 3


def test_corrupted_checkpoint_is_refused(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = facesets
    train(a, b, tmp_path / "m", TINY, TrainConfig(steps=2, batch=4, save_every=1))
    ck = tmp_path / "m" / "checkpoint.pt"
    data = bytearray(ck.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ck.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        train(a, b, tmp_path / "m", TINY, TrainConfig(steps=3, batch=4))
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        create_method("autoencoder", model=tmp_path / "m")


def test_disk_full_keeps_the_old_checkpoint(
    facesets: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = facesets
    tr = Trainer(a, b, tmp_path / "m", TINY, TrainConfig(batch=4))
    tr.train_step()
    tr.save()
    before = (tmp_path / "m" / "checkpoint.pt").read_bytes()
    tr.train_step()

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError, match="disk full"):
        tr.save()
    monkeypatch.undo()
    assert (tmp_path / "m" / "checkpoint.pt").read_bytes() == before
    assert checkpoint.load(tmp_path / "m" / "checkpoint.pt")["step"] == 1


def test_too_small_or_wrong_size_facesets(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = facesets
    with pytest.raises(FaceSetError, match="at least 128"):
        train(a, b, tmp_path / "m", ModelConfig(resolution=128, width=8), TrainConfig(steps=1))
    with pytest.raises(FaceSetError, match="training needs"):
        train(a, b, tmp_path / "m", TINY, TrainConfig(steps=1, holdout_every=1))


def test_autoencoder_swap_and_other_identity(
    lab: None, facesets: tuple[Path, Path], astronaut_video: Path, tmp_path: Path
) -> None:
    a, b = facesets
    train(a, b, tmp_path / "m", TINY, TrainConfig(steps=2, batch=4))
    method = create_method("autoencoder", model=tmp_path / "m")
    assert method.crop_size == 64 and method.model_hash.startswith("sha256:")
    res = swap_file(method, astronaut_video, tmp_path / "out.mp4")
    assert res.frames_swapped == res.frames
    # a model for other people: no face of its target identity in this video
    method.target_identity = -method.target_identity  # type: ignore[operator]
    with pytest.raises(NoFaceError):
        swap_file(method, astronaut_video, tmp_path / "other.mp4")
    assert not (tmp_path / "other.mp4").exists()


def test_resume_after_kill_9(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    """A training process killed with SIGKILL leaves a loadable checkpoint; training resumes."""
    import signal
    import subprocess
    import sys
    import time

    a, b = facesets
    out = tmp_path / "m"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "doppelab",
            "train",
            str(a),
            str(b),
            "-o",
            str(out),
            "--width",
            "8",
            "--batch",
            "4",
            "--steps",
            "100000",
            "--save-every",
            "2",
            "--preview-every",
            "1000",
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # let it get on with later steps, maybe mid-save
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = checkpoint.load(out / "checkpoint.pt")["step"]
    assert saved >= 2
    res = train(a, b, out, ModelConfig(width=8), TrainConfig(steps=saved + 1, batch=4))
    assert res.resumed_from == saved and res.step == saved + 1


def test_still_picture_read_as_video_gives_a_picture(
    lab: None, astronaut: np.ndarray, tmp_path: Path
) -> None:
    """A TIFF (read through FFmpeg as a one-frame video) used to be refused for a .png output
    ("cannot label .png output"); an animated GIF still needs a video output."""
    from PIL import Image

    src = tmp_path / "src.png"
    write_image(src, _striped(astronaut))
    tiff = tmp_path / "tgt.tiff"
    Image.fromarray(astronaut).save(tiff)
    method = create_method("mesh", source=src)
    res = swap_file(method, tiff, tmp_path / "out.png")
    assert res.faces_swapped == 1 and probe(res.path).kind == "image"
    assert verify(res.path).manifest.state == "trusted"
    gif = tmp_path / "tgt.gif"
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1])]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(UsageError, match="2 frames"):
        swap_file(method, gif, tmp_path / "anim.png")
    assert not (tmp_path / "anim.png").exists()
