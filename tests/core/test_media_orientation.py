"""Display matrices that mirror, or say nothing: frames come out as FFmpeg's own autorotate shows
them (fuzz round 5, ``bench/fuzz_corpus5.py``)."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.media import iter_frames, probe

_ONE, _W = 1 << 16, 1 << 30


def _quadrants() -> np.ndarray:
    """48x64 RGB: red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = np.zeros((48, 64, 3), np.uint8)
    img[:24, :32] = (255, 0, 0)
    img[:24, 32:] = (0, 255, 0)
    img[24:, :32] = (0, 0, 255)
    img[24:, 32:] = (255, 255, 255)
    return img


def _clip(path: Path, matrix: tuple[int, ...]) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10, options={"crf": "0"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv444p"
        for _ in range(2):
            for pkt in s.encode(av.VideoFrame.from_ndarray(_quadrants(), format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    data = bytearray(path.read_bytes())
    pos = data.index(b"tkhd") - 4
    at = pos + 8 + 4 + (32 if data[pos + 8] == 1 else 20) + 8 + 4 + 4
    data[at:at + 36] = struct.pack(">9I", *(v & 0xFFFFFFFF for v in matrix))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("name", "matrix", "expect"), [
    ("mirror", (-_ONE, 0, 0, 0, _ONE, 0, 0, 0, _W), lambda a: a[:, ::-1]),
    ("vflip", (_ONE, 0, 0, 0, -_ONE, 0, 0, 0, _W), lambda a: a[::-1]),
    ("transpose", (0, _ONE, 0, _ONE, 0, 0, 0, 0, _W), lambda a: a.transpose(1, 0, 2)),
    ("anti_transpose", (0, -_ONE, 0, -_ONE, 0, 0, 0, 0, _W),
     lambda a: a[::-1, ::-1].transpose(1, 0, 2)),
    ("rot90_cw", (0, _ONE, 0, -_ONE, 0, 0, 0, 0, _W), lambda a: np.rot90(a, 3)),
    ("rot180", (-_ONE, 0, 0, 0, -_ONE, 0, 0, 0, _W), lambda a: np.rot90(a, 2)),
    ("zero", (0,) * 8 + (_W,), lambda a: a),
])
def test_display_matrix_orientation(tmp_path: Path, name: str, matrix: tuple[int, ...],
                                    expect: object) -> None:
    path = _clip(tmp_path / f"{name}.mp4", matrix)
    want = expect(_quadrants())  # type: ignore[operator]
    frames = list(iter_frames(path))
    assert frames[0].image.shape == want.shape
    assert np.abs(frames[0].image.astype(int) - want).mean() < 8
    info = probe(path)
    assert (info.height, info.width) == want.shape[:2]
