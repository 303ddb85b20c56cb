"""Caveats for conditions where the face detectors are known to drift towards "fake"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.core.media import probe
from doppelab.detect.predict import Detect, DetectConfig
from doppelab.detect.quality import assess, bits_per_pixel
from tests.conftest import shifted_frames, write_video


def test_assess_rules() -> None:
    assert assess([], None) == ({}, [])
    quality, notes = assess([200.0, 210.0, 190.0], 0.01)  # big faces: no caveat at any rate
    assert quality == {"bits_per_pixel": 0.01, "face_px": 200.0} and notes == []
    assert assess([130.0], 0.2)[1] == []  # mid-sized but well coded
    assert "strongly compressed" in assess([130.0], 0.02)[1][0]
    assert assess([130.0], None)[1] == []  # an image: no bit rate, no compression caveat
    assert "small faces (median 60 px" in assess([60.0, 61.0, 59.0], None)[1][0]


def test_bits_per_pixel_of_a_video(astronaut_video: Path) -> None:
    info = probe(astronaut_video)
    bpp = bits_per_pixel(astronaut_video, info)
    expected = astronaut_video.stat().st_size * 8 / (
        info.width * info.height * float(info.fps or 0) * float(info.duration or 0))
    assert bpp is not None and np.isclose(bpp, expected) and 0 < bpp < 24


def test_small_face_video_gets_a_caveat(astronaut: np.ndarray, tmp_path: Path) -> None:
    video = write_video(tmp_path / "small.mp4", shifted_frames(astronaut, 8, size=280))
    res = Detect(DetectConfig(detectors=("blend",), frames=4)).run(video)
    assert any(f.usable for f in res.faces), "the small face must still be scored"
    assert res.quality["face_px"] < 100 and "bits_per_pixel" in res.quality
    assert len(res.caveats) == 1 and res.caveats[0].startswith("small faces")
    big = Detect(DetectConfig(detectors=("blend",), frames=4)).run(
        write_video(tmp_path / "big.mp4", shifted_frames(astronaut, 8, size=960)))
    assert big.quality["face_px"] > 150 and big.caveats == []
