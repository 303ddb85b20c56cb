"""Decoding of the video codecs the bundled FFmpeg offers (H.264, H.265, VP9, AV1): each is
encoded here when the wheel has an encoder, then read back through iter_frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.media import iter_frames, probe

CASES = [("libx264", ".mp4"), ("libx265", ".mp4"), ("libvpx-vp9", ".webm"),
         ("libsvtav1", ".mkv"), ("libaom-av1", ".mkv"), ("mpeg4", ".mov")]


def _encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("codec", "suffix"), CASES)
def test_decode_codec(tmp_path: Path, codec: str, suffix: str) -> None:
    if not _encoder(codec):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    path = tmp_path / f"clip{suffix}"
    frames = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(5)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        if codec == "libaom-av1":
            stream.options = {"cpu-used": "8"}
        for img in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    info = probe(path)
    assert info.kind == "video" and (info.width, info.height) == (64, 64)
    decoded = [f.image for f in iter_frames(path)]
    assert len(decoded) == 5
    assert abs(float(decoded[-1].mean()) - 160) < 12
