"""Swap fakes for detector training: only the designated pairs, and marked real controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.core.media import iter_frames
from doppelab.detect.swapfakes import PAIRS, directions, marked_real, pair_held_out, video_faces
from doppelab.provenance import watermark


def test_only_the_designated_pairs_in_both_directions() -> None:
    assert PAIRS == {"pair-1": ("lp_d18", "lp_d19"), "pair-2": ("lp_d3", "lp_d6")}
    got = {(t, s) for _, t, s, _ in directions()}
    assert got == {
        ("lp_d19", "lp_d18"),
        ("lp_d18", "lp_d19"),
        ("lp_d6", "lp_d3"),
        ("lp_d3", "lp_d6"),
    }
    # the autoencoder side named is the source's (a of pair-1 is lp_d18)
    assert ("pair-1", "lp_d19", "lp_d18", "a") in directions()


def test_a_pair_with_a_held_out_person_is_held_out_whole() -> None:
    assert pair_held_out("lp_d19") and pair_held_out("lp_d18")  # lp_d19 is held out
    assert not pair_held_out("lp_d3") and not pair_held_out("lp_d6")
    assert not pair_held_out("somebody_else")


def test_marked_real_carries_the_mark_and_keeps_the_picture(
    astronaut_video: Path, tmp_path: Path
) -> None:
    out = marked_real(astronaut_video, tmp_path / "marked.mp4", seed=3)
    src = [f.image for f in iter_frames(astronaut_video)]
    got = [f.image for f in iter_frames(out)]
    assert len(got) == len(src)
    assert watermark.detect_frames(got).found
    assert not watermark.detect_frames(src).found
    mse = np.mean((np.stack(got).astype(np.float64) - np.stack(src)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30  # only the faint mark (and the codec) changed it
    crops, lms = video_faces(out, every=4)
    assert crops.shape[1:] == (128, 128, 3) and lms.shape[1:] == (478, 2) and len(crops) >= 2


def test_swap_model_flag_takes_only_designated_pairs() -> None:
    import pytest

    from doppelab.cli.detect_train import _models
    from doppelab.core.errors import UsageError

    assert _models(["pair-2=/m/p2"]) == {"pair-2": Path("/m/p2")}
    for bad in ("pair-9=/m", "pair-1", "lp_d1=/m"):
        with pytest.raises(UsageError):
            _models([bad])


def test_video_rule_picks_lowest_logloss_and_smaller_weight_on_ties(tmp_path: Path) -> None:
    from doppelab.detect.calibrate_video import _choose

    def row(label: int, frame: float, temporal: float) -> dict:
        return {
            "path": "x",
            "label": label,
            "source": "s",
            "frame_logit": frame,
            "temporal_logit": temporal,
        }

    # the temporal score separates what the frames cannot: a positive weight must win
    rows = [row(0, 0.0, -3.0), row(0, 0.0, -2.0), row(1, 0.0, 2.0), row(1, 0.0, 3.0)]
    best = _choose(rows, tmp_path, None)["chosen"]
    assert best["weight"] == 1.0 and best["cap"] == 2.0
    # a useless temporal score (the same for all) ties every weight on AUC; log-loss decides
    rows = [row(0, -2.0, -5.0), row(1, 2.0, -5.0)]
    best = _choose(rows, tmp_path, None)["chosen"]
    assert best["weight"] == 0.0 and (tmp_path / "video_calibration.json").exists()


def test_roundtrip_manifest_and_bad_manifest(tmp_path: Path) -> None:
    import json

    import pytest

    from doppelab.core.errors import InputError
    from doppelab.detect.swapfakes import (
        MANIFEST,
        VARIANTS,
        SwapManifest,
        Video,
        read_manifest,
    )

    videos = [
        Video(path="a_marked.mp4", label=0, method="real", target="a", source="a",
              variant="watermark"),
        Video(path="a_mesh.mp4", label=1, method="mesh", target="a", source="b",
              variant="default", watermark=True),
    ]
    written = SwapManifest(pairs=PAIRS, variants=VARIANTS, videos=videos)
    (tmp_path / MANIFEST).write_text(json.dumps(written.to_dict(), indent=1))
    got = read_manifest(tmp_path)
    assert got == written and got.videos[1].label == 1
    # the JSON form is what make_videos writes (pairs as lists once through JSON)
    assert json.loads(json.dumps(got.to_dict()))["pairs"]["pair-1"] == ["lp_d18", "lp_d19"]
    with pytest.raises(InputError, match="cannot read"):
        read_manifest(tmp_path / "nowhere")
    for bad in ("{", '{"pairs": {}}', '{"pairs": {}, "variants": {}, "videos": [{"x": 1}]}'):
        (tmp_path / MANIFEST).write_text(bad)
        with pytest.raises(InputError, match="not a swap manifest"):
            read_manifest(tmp_path)


def test_one_alignment_for_detect_swapfakes_and_fakevideo(astronaut_video: Path) -> None:
    """``net_face`` is the crop + landmarks chain that ``detect``, the swap tables and the fake
    videos all use; on the astronaut video it gives exactly what that chain gives, and
    ``swapfakes.video_faces`` returns it for the largest face of each kept frame."""
    import cv2

    from doppelab.core.geometry import transform_points, warp_to_crop
    from doppelab.core.media import iter_frames
    from doppelab.detect.data import CROP, NET_SIZE, align_face, net_face
    from doppelab.detect.swapfakes import video_faces
    from doppelab.extract.align import crop_from_landmarks
    from doppelab.extract.landmarks import FaceTracker, TrackerConfig

    want_crops, want_lms = [], []
    with FaceTracker(TrackerConfig(max_faces=1, min_face=24.0)) as tracker:
        for frame in iter_frames(astronaut_video):
            found = tracker.process(frame.image)
            if frame.ref.index % 3 or not found:
                continue
            lm = max(found, key=lambda f: f.bbox.size).landmarks
            m = crop_from_landmarks(lm, CROP)
            big = warp_to_crop(frame.image, m, CROP.size)
            crop, m2, lm_crop = align_face(frame.image, lm)
            assert np.array_equal(crop, big) and np.array_equal(m2, m)
            assert np.array_equal(lm_crop, transform_points(m, lm))
            small = cv2.resize(big, (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_AREA)
            scale = NET_SIZE / CROP.size
            net_lm = ((transform_points(m, lm)[:, :2] + 0.5) * scale - 0.5).astype(np.float32)
            got_crop, got_lm = net_face(frame.image, lm)
            assert np.array_equal(got_crop, small) and np.array_equal(got_lm, net_lm)
            want_crops.append(got_crop)
            want_lms.append(got_lm)
    crops, lms = video_faces(astronaut_video, every=3)
    assert len(crops) == len(want_crops) >= 3
    assert np.array_equal(crops, np.stack(want_crops)) and np.array_equal(lms, np.stack(want_lms))


def test_make_videos_resumes_from_what_exists(tmp_path: Path) -> None:
    """With every output already there nothing is made again; the manifest lists each
    direction's marked real control, then its swaps, method by method, variant by variant."""
    from doppelab.detect.swapfakes import make_videos, read_manifest

    names = []
    for _, target, source, _ in directions():
        names.append(f"{target}_marked.mp4")
        names += [f"{target}_{m}_from_{source}_{v}.mp4" for m in ("mesh", "autoencoder")
                  for v in ("default", "hist-poisson")]
        (tmp_path / f"{source}_frame.png").write_bytes(b"")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "home" / "keys").mkdir(parents=True)
    models = {"pair-1": Path("m1"), "pair-2": Path("m2")}
    videos = make_videos(tmp_path / "no-data", tmp_path, models)
    assert [v.path for v in videos] == names
    assert [v.label for v in videos] == [0, 1, 1, 1, 1] * 4
    assert read_manifest(tmp_path).videos == videos
    mesh_only = make_videos(tmp_path / "no-data", tmp_path, {"pair-2": Path("m2")})
    assert len(mesh_only) == 4 + 2 * 2 + 2 * 4
