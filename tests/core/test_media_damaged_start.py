"""A video whose first key frame is damaged but whose later GOPs are fine is read from the next
key frame on, as FFmpeg's own tools do (fuzz round 5, ``bench/fuzz_corpus5.py``)."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.errors import TruncatedMediaError
from doppelab.core.media import iter_frames, probe
from doppelab.core.media_spans import iter_span_frames


def _clip(path: Path, zero_first: bool) -> Path:
    """12 frames at 10 fps, a key frame every 4, no B-frames; the first sample zeroed."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10, options={"g": "4", "bf": "0",
                                                         "x264-params": "scenecut=0"})
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for k in range(12):
            img = np.full((64, 64, 3), 20 * k, np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    if zero_first:
        data = bytearray(path.read_bytes())
        stco = data.index(b"stco") + 4
        first = struct.unpack(">I", data[stco + 8:stco + 12])[0]
        stsz = data.index(b"stsz") + 4
        size = struct.unpack(">I", data[stsz + 12:stsz + 16])[0]
        data[first:first + size] = bytes(size)
        path.write_bytes(bytes(data))
    return path


def test_first_key_frame_damaged_reads_from_the_next(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = _clip(tmp_path / "gop.mp4", zero_first=True)
    assert probe(path).width == 64
    with caplog.at_level(logging.WARNING):
        frames = list(iter_frames(path))
    assert len(frames) == 8
    assert frames[0].ref.timestamp == pytest.approx(0.4)
    assert "skipped 1 undecodable video packet" in caplog.text
    assert "cut short" not in caplog.text  # the skipped packets explain the missing frames
    spans = list(iter_span_frames(path, [(0.0, 10.0)]))
    assert len(spans) == 8


def test_undamaged_clip_reads_every_frame(tmp_path: Path) -> None:
    assert len(list(iter_frames(_clip(tmp_path / "ok.mp4", zero_first=False)))) == 12


def test_exception_every_packet_damaged(tmp_path: Path) -> None:
    path = _clip(tmp_path / "gop.mp4", zero_first=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat")
    size = struct.unpack(">I", data[at - 4:at])[0]
    data[at + 4:at - 4 + size] = bytes(size - 8)  # every sample zeroed, the index intact
    path.write_bytes(bytes(data))
    with pytest.raises(TruncatedMediaError):
        list(iter_frames(path))
