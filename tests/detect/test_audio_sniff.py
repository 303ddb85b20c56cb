"""A still image is never opened with FFmpeg to ask whether it is audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doppelab.detect import predict_audio


def test_image_with_a_long_tail_is_not_probed_as_audio(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG followed by junk: FFmpeg's image demuxer would read the junk as one packet
    (2.2 GB of memory for 1 GB of zeros)."""
    path = tmp_path / "tail.jpg"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path)
    with open(path, "ab") as fh:
        fh.truncate(path.stat().st_size + (64 << 20))  # sparse: no disk used

    def no_ffmpeg(p: object) -> bool:
        raise AssertionError(f"opened with FFmpeg: {p}")

    monkeypatch.setattr(predict_audio, "is_audio_only", no_ffmpeg)
    assert predict_audio.is_audio_file(path) is False
