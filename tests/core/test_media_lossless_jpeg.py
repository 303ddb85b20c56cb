"""A lossless JPEG (SOF3), which Pillow cannot identify, is read through FFmpeg's decoder (fuzz
round 5, ``bench/fuzz_corpus5.py``); a JPEG neither can read stays a typed error."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.errors import TruncatedMediaError
from doppelab.core.media import iter_frames, probe, read_image


def _lossless(path: Path, img: np.ndarray) -> Path:
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as out:
        s = out.add_stream("ljpeg", rate=1)
        s.width, s.height, s.pix_fmt = img.shape[1], img.shape[0], "bgr24"
        for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def test_roundtrip_lossless_jpeg(tmp_path: Path) -> None:
    img = np.zeros((40, 56, 3), np.uint8)
    img[:, :28] = (200, 30, 60)
    img[20:, 28:] = (10, 220, 90)
    path = _lossless(tmp_path / "sof3.jpg", img)
    assert path.read_bytes()[:2] == b"\xff\xd8"
    got = read_image(path)
    assert got.shape == (40, 56, 3)
    assert np.abs(got.astype(int) - img).max() <= 2
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("image", 56, 40)
    assert len(list(iter_frames(path))) == 1


def test_exception_jpeg_nobody_reads(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    with pytest.raises(TruncatedMediaError):
        read_image(bad)
    with pytest.raises(TruncatedMediaError):
        probe(bad)
