"""Media files damaged by fuzz round 6's random mutations (``bench/fuzz_corpus6.py``): each test
rebuilds the smallest file that shows one defect the campaign found."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from doppelab.core.errors import DimensionsTooLargeError
from doppelab.core.media import VideoWriter, iter_frames, read_image


def _clip_with_aac(path: Path) -> Path:
    """3 frames of H.264 at 10 fps (64x48) beside 0.3 s of AAC, in MP4."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("aac", rate=16_000, layout="mono")
        for k in range(3):
            img = np.full((48, 64, 3), 60 * k, np.uint8)
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        tone = np.sin(np.arange(4800) / 5.0).astype(np.float32)[None]
        for start in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]),
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16_000, start
            for pkt in aus.encode(frame):
                out.mux(pkt)
        for pkt in aus.encode(None):
            out.mux(pkt)
    return path


def test_exception_video_writer_audio_without_codec(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A bit flip that renames the audio track's ``minf`` box (``r6_mp4_flipbody_2.mp4``) leaves
    an audio stream without a codec context: the writer makes a silent video (an info log
    line, as for a file without audio) instead of failing with AttributeError."""
    clip = _clip_with_aac(tmp_path / "clip.mp4")
    data = clip.read_bytes()
    at = data.rfind(b"minf")  # the second track's: the audio's
    source = tmp_path / "damaged.mp4"
    source.write_bytes(data[:at] + b"linf" + data[at + 4:])
    with av.open(str(source)) as probe:
        assert probe.streams.audio[0].codec_context is None
    dub = tmp_path / "dub.mp4"
    with caplog.at_level(logging.INFO), \
            VideoWriter(dub, fps=10, width=64, height=48, audio_from=source) as writer:
        for frame in iter_frames(source):
            writer.write(frame.image)
    with av.open(str(dub)) as got:
        assert not got.streams.audio and got.streams.video[0].frames == 3
    assert "no codec description" in caplog.text


def _gif_top(path: Path, top: int) -> Path:
    """A 64x64 GIF whose image descriptor places the picture ``top`` rows down: Pillow grows
    the canvas to hold it (``r6_gif_size1max_427.gif``: 256x65791)."""
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(path, "GIF")
    data = bytearray(path.read_bytes())
    at = data.index(b"\x00\x2c", 13) + 1  # the image descriptor, after the colour table
    data[at + 3:at + 5] = top.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("top", [0xFFFF, 0x7FFF])
def test_exception_image_side_over_opencv_limit(tmp_path: Path, top: int) -> None:
    """A picture with a side over 32766 px (within the pixel limit) is refused before decoding:
    handed on, it made MediaPipe's OpenCV abort the process (SIGABRT, ``swap --source``)."""
    gif = _gif_top(tmp_path / "tall.gif", top)
    with pytest.raises(DimensionsTooLargeError, match="a side over 32766 px"):
        read_image(gif)
    assert read_image(_gif_top(tmp_path / "ok.gif", 1000)).shape == (1064, 64, 3)


def test_exception_face_tracker_side_over_opencv_limit() -> None:
    """The tracker refuses a frame with a side over 32766 px (a video whose frames grow after
    the header): MediaPipe's detector aborts the process on it. Run in a child process, so a
    regression fails this test instead of killing the test run."""
    code = ("import numpy as np\n"
            "from doppelab.core.errors import DimensionsTooLargeError\n"
            "from doppelab.extract.landmarks import FaceTracker\n"
            "tracker = FaceTracker()\n"
            "try:\n"
            "    tracker.detect(np.zeros((32767, 1, 3), np.uint8))\n"
            "except DimensionsTooLargeError as exc:\n"
            "    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert "refused: 1x32767: a side over 32766 px" in done.stdout


def _moving_clip(path: Path, frames: int = 60, size: int = 192) -> Path:
    """``frames`` frames of textured H.264 (``size`` px square, 25 fps) drifting sideways, with
    P-frames that lean on their predecessors (so damage propagates)."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25, options={"g": "30"})
        vs.width, vs.height, vs.pix_fmt = size, size, "yuv420p"
        for k in range(frames):
            img = np.kron(np.roll(base, k, axis=1), np.ones((8, 8, 1), np.uint8))
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    return path


def test_damaged_video_decodes_the_same_every_time(tmp_path: Path) -> None:
    """A damaged H.264 stream gives the same frames on every read by default (fuzz round 6: with
    several decoder threads, frame or slice, error concealment depended on thread timing, so
    ``r6_mp4_flipbody_2.mp4`` gave 5 different frame sets in 8 reads and a face was found in
    some runs only)."""
    import hashlib

    data = bytearray(_moving_clip(tmp_path / "clip.mp4").read_bytes())
    lo = data.find(b"mdat") + 2000
    rng = np.random.default_rng(3)
    for pos in rng.integers(lo, len(data) - 2000, 60):
        data[int(pos)] ^= 1 << int(rng.integers(0, 8))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))

    def digest() -> str:
        h = hashlib.sha1()
        for frame in iter_frames(damaged):
            h.update(frame.image.tobytes())
        return h.hexdigest()

    assert len({digest() for _ in range(8)}) == 1
