"""Audio with an unordered channel layout (a 32-channel WAV, fuzz round 3): the downmix helper
and the video writer's audio re-encoding."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.media import VideoWriter, iter_frames
from doppelab.core.media_audio import is_unordered, mean_mono

RATE = 16_000


def wav_32(path: Path, seconds: float = 0.5, channels: int = 32) -> Path:
    """A plain PCM s16 WAV with ``channels`` channels (no channel mask: an unordered layout);
    channel k holds a 440 Hz tone at amplitude 0.01 * (k + 1)."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * 440 * t)
    data = np.stack([0.01 * (k + 1) * tone for k in range(channels)])
    pcm = (data.T * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, RATE, RATE * channels * 2, channels * 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
                     + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)
    return path


def test_smoke_is_unordered() -> None:
    assert is_unordered("32 channels", 32)
    assert not is_unordered("5.1", 6) and not is_unordered("mono", 1)


@pytest.mark.parametrize("fmt", ["s16", "fltp"])
def test_shape_mean_mono(fmt: str) -> None:
    planar = np.stack([np.full(100, 0.25 * k, np.float32) for k in range(3)])  # 0, .25, .5
    arr = (planar.T.reshape(1, -1) * 32768).astype(np.int16) if fmt == "s16" else planar
    frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="3.0")
    frame.sample_rate, frame.pts = RATE, 1234
    mono = mean_mono(frame)
    assert (mono.format.name, mono.layout.name, mono.samples) == ("flt", "mono", 100)
    assert (mono.sample_rate, mono.pts) == (RATE, 1234)
    np.testing.assert_allclose(mono.to_ndarray()[0], 0.25, atol=1e-4)


def test_video_writer_reencodes_32_channel_audio(tmp_path: Path) -> None:
    """A 32-channel PCM track (FFmpeg cannot downmix it) is re-encoded as mono AAC for MP4."""
    wav = wav_32(tmp_path / "a.wav")
    source = tmp_path / "src.mkv"
    with av.open(str(wav)) as src, av.open(str(source), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream_from_template(src.streams.audio[0])
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for pkt in src.demux(src.streams.audio[0]):
            if pkt.size:
                pkt.stream = aus
                out.mux(pkt)
    dub = tmp_path / "dub.mp4"
    with VideoWriter(dub, fps=10, width=64, height=48, audio_from=source) as writer:
        for frame in iter_frames(source):
            writer.write(frame.image)
    with av.open(str(dub)) as got:
        audio = got.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.channels) == ("aac", 1)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in got.decode(audio)])
    # the mean of the 32 channels: a tone at 0.165, AAC-coded
    assert 0.1 < np.abs(samples[2000:6000]).max() < 0.25
