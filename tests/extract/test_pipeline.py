from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from doppelab.core.errors import (
    FaceSetError,
    ManyFacesError,
    NoFaceError,
    TruncatedMediaError,
    UsageError,
)
from doppelab.core.geometry import warp_to_crop
from doppelab.core.media import iter_frames, write_image
from doppelab.extract.faceset import FaceSet
from doppelab.extract.pipeline import ExtractConfig, extract
from doppelab.extract.quality import QualityFilter
from tests.conftest import shifted_frames, write_video


def test_video_to_faceset_roundtrip(astronaut_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.faceset"
    res = extract([astronaut_video], out, ExtractConfig(size=128, embed_every=5))
    assert res.faces == 12 and res.frames == 12 and res.frames_with_face == 12
    assert res.people == 1
    fs = FaceSet.open(out)
    assert len(fs) == 12 and fs.size == 128
    b = fs.batch([0, 5, 11])
    assert b["crops"].shape == (3, 128, 128, 3) and b["crops"].dtype == np.uint8
    assert b["masks"].shape == (3, 128, 128) and 0.0 <= b["masks"].min() <= b["masks"].max() <= 1
    assert b["landmarks"].shape == (3, 478, 3)
    assert b["crop_from_frame"].shape == (3, 2, 3)
    assert b["embeddings"].shape == (3, 128)
    f = fs.face(3)
    assert f.source.index == 3 and f.source.timestamp == pytest.approx(0.3, abs=1e-6)
    assert f.quality is not None and f.quality.size > 50
    # the stored matrix reproduces the stored crop from the source frame
    frame = [fr.image for fr in iter_frames(astronaut_video)][3]
    again = warp_to_crop(frame, f.crop_from_frame, 128)
    assert f.crop is not None and np.abs(again.astype(int) - f.crop.astype(int)).max() <= 1
    meta = json.loads((out / "faceset.json").read_text())
    assert meta["version"] == 1 and meta["faces"] == 12 and meta["config"]["size"] == 128
    batches = fs.batches(4, seed=1)
    first = next(batches)
    assert first["crops"].shape[0] == 4


def test_resume_after_interrupt(astronaut_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.faceset"
    cfg = ExtractConfig(size=64, shard_faces=3)
    seen = []

    def boom(n: int) -> None:
        seen.append(n)
        if len(seen) == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract([astronaut_video], out, cfg, progress=boom)
    with pytest.raises(FaceSetError, match="unfinished"):
        FaceSet.open(out)
    assert not list(out.glob("shards/.*"))  # no half-written shard
    res = extract([astronaut_video], out, cfg)
    assert res.media[0].resumed_from >= 3 and res.media[0].processed <= 12 - 3
    assert res.faces == 12 and res.frames == 12
    fs = FaceSet.open(out)
    assert [fs.face(i).source.index for i in range(len(fs))] == list(range(12))
    again = extract([astronaut_video], out, cfg)  # nothing left to do
    assert again.processed == 0 and again.faces == 12


def test_resume_with_other_size_is_refused(astronaut_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.faceset"
    extract([astronaut_video], out, ExtractConfig(size=64))
    with pytest.raises(UsageError, match="size"):
        extract([astronaut_video], out, ExtractConfig(size=128))


def test_images_folder_and_reference(astronaut: np.ndarray, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.png", astronaut)
    write_image(folder / "b.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    (folder / "notes.txt").write_text("not an image")
    ref = tmp_path / "ref.jpg"
    write_image(ref, cv2.resize(astronaut, (300, 300)))
    res = extract([folder], tmp_path / "f.faceset", ExtractConfig(size=64, identity=ref))
    assert res.faces == 2 and res.people == 1


def test_reference_with_two_faces_is_refused(
    astronaut: np.ndarray, tmp_path: Path, astronaut_video: Path
) -> None:
    ref = tmp_path / "two.png"
    write_image(ref, np.ascontiguousarray(np.hstack([astronaut, astronaut[:, ::-1]])))
    with pytest.raises(ManyFacesError):
        extract([astronaut_video], tmp_path / "x.faceset", ExtractConfig(identity=ref))
    blank = tmp_path / "blank.png"
    write_image(blank, np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(NoFaceError, match="reference"):
        extract([astronaut_video], tmp_path / "y.faceset", ExtractConfig(identity=blank))


def test_no_face_leaves_nothing(tmp_path: Path) -> None:
    video = write_video(tmp_path / "blank.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 5)
    out = tmp_path / "n.faceset"
    with pytest.raises(NoFaceError, match="no face found in 5 frames"):
        extract([video], out)
    assert not out.exists()


def test_corrupt_input_leaves_no_output(astronaut: np.ndarray, tmp_path: Path) -> None:
    """An image whose header reads but whose data is cut off fails without a FaceSet left."""
    good = tmp_path / "a.jpg"
    write_image(good, astronaut)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = tmp_path / "c.faceset"
    with pytest.raises(TruncatedMediaError, match=r"cut\.jpg"):
        extract([cut], out, ExtractConfig(size=64))
    assert not out.exists()


def test_only_tiny_faces(astronaut: np.ndarray, tmp_path: Path) -> None:
    canvas = np.zeros((480, 480, 3), np.uint8)
    canvas[200:296, 200:296] = cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)
    img = tmp_path / "tiny.png"
    write_image(img, canvas)
    with pytest.raises(NoFaceError, match="under 60 px"):
        extract([img], tmp_path / "t.faceset", ExtractConfig(min_face=60))


def test_quality_filter_drops_everything(astronaut_video: Path, tmp_path: Path) -> None:
    with pytest.raises(NoFaceError, match="quality filters"):
        extract(
            [astronaut_video],
            tmp_path / "q.faceset",
            ExtractConfig(quality=QualityFilter(min_blur=1e9)),
        )


def test_config_guards() -> None:
    with pytest.raises(UsageError):
        ExtractConfig(every=0)
    with pytest.raises(UsageError):
        ExtractConfig(size=10)
    with pytest.raises(UsageError):
        extract([], "x.faceset")


def test_output_that_is_not_a_faceset_is_refused(astronaut_video: Path, tmp_path: Path) -> None:
    other = tmp_path / "docs"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(UsageError, match="not a FaceSet"):
        extract([astronaut_video], other)
    assert (other / "thesis.txt").read_text() == "precious"


def test_two_faces_tracked_in_video(astronaut: np.ndarray, tmp_path: Path) -> None:
    pair = np.ascontiguousarray(np.hstack([astronaut, astronaut[:, ::-1]]))
    frames = [cv2.resize(f, (384, 192)) for f in shifted_frames(pair, 6, size=512)]
    video = write_video(tmp_path / "pair.mp4", frames)
    res = extract([video], tmp_path / "p.faceset", ExtractConfig(size=64, embed_every=2))
    assert res.faces == 12 and res.media[0].tracks == 2
    fs = FaceSet.open(tmp_path / "p.faceset")
    tracks = fs.column("frames")["track"]
    assert sorted(set(tracks.tolist())) == [0, 1]
    assert res.people == 1  # the same person twice


def test_workers_process_inputs_in_parallel(astronaut_video: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.mp4"
    second.write_bytes(astronaut_video.read_bytes())
    res = extract([astronaut_video, second], tmp_path / "w.faceset",
                  ExtractConfig(size=64, workers=2))
    assert res.faces == 24 and len(res.media) == 2
    assert res.people == 1  # the same person in both inputs
