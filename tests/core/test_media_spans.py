"""Frames of chosen time spans (core.media_spans): the same frames as a full decode, by seeking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doppelab.core.errors import FileAccessError, UsageError
from doppelab.core.media import iter_frames
from doppelab.core.media_spans import iter_span_frames
from doppelab.core.media_write import VideoWriter


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s at 10 fps, each frame a different flat grey (a long GOP: seeks land far back)."""
    path = tmp_path_factory.mktemp("spans") / "numbered.mp4"
    with VideoWriter(path, fps=10, width=64, height=48) as out:
        for i in range(300):
            out.write(np.full((48, 64, 3), (i * 7) % 250, np.uint8))
    return path


def test_span_frames_equal_the_full_decode(numbered: Path) -> None:
    full = {round(f.ref.timestamp, 3): f for f in iter_frames(numbered)}
    spans = [(0.0, 1.0), (1.0, 2.5), (12.0, 13.0), (29.5, 40.0)]  # adjacent, far, past the end
    got = list(iter_span_frames(numbered, spans))
    assert [sum(k == j for k, _ in got) for j in range(4)] == [10, 15, 10, 5]
    for k, frame in got:
        a, b = spans[k]
        assert a <= frame.ref.timestamp < b
        ref = full[round(frame.ref.timestamp, 3)]
        assert frame.ref.index == ref.ref.index
        np.testing.assert_array_equal(frame.image, ref.image)


def test_spans_past_the_end_give_nothing(numbered: Path) -> None:
    assert list(iter_span_frames(numbered, [(50.0, 60.0)])) == []


@pytest.mark.parametrize("spans", [[], [(2.0, 1.0)], [(0.0, 2.0), (1.0, 3.0)], [(-1.0, 1.0)]])
def test_bad_spans_are_a_usage_error(numbered: Path, spans: list[tuple[float, float]]) -> None:
    with pytest.raises(UsageError):
        iter_span_frames(numbered, spans)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        iter_span_frames(tmp_path / "nope.mp4", [(0.0, 1.0)])


@pytest.mark.parametrize(("ext", "codec"), [("ts", "mpeg2video"), ("mkv", "libx264"),
                                            ("avi", "mjpeg"), ("webm", "libvpx")])
def test_containers_that_seek_inexactly(tmp_path: Path, ext: str, codec: str) -> None:
    """MPEG-TS seeks by a search over timestamps and can land past the target (it dropped a
    whole span before the seek was retried from further back)."""
    import av

    path = tmp_path / f"v.{ext}"
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=10)
        vs.width, vs.height = 64, 48
        vs.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(200):
            img = np.full((48, 64, 3), (i * 7) % 250, np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
    spans = [(0.0, 1.0), (6.0, 7.0), (12.0, 13.0), (19.0, 20.0)]
    got = list(iter_span_frames(path, spans))
    assert [sum(k == j for k, _ in got) for j in range(4)] == [10, 10, 10, 10]
    full = {round(f.ref.timestamp, 2): f.image for f in iter_frames(path)}
    assert all((full[round(f.ref.timestamp, 2)] == f.image).all() for _, f in got)
