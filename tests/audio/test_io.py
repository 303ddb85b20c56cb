"""Audio stage: decoding of every container, resampling, loudness, VAD and bad inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from doppelab.audio import (
    AudioClip,
    NoAudioError,
    gated_level_db,
    iter_audio_blocks,
    load_audio,
    normalize_loudness,
    speech_audio,
    speech_segments,
)
from doppelab.audio.encode import codec_roundtrip, write_audio
from doppelab.core.errors import EmptyFileError, NotMediaError, TruncatedMediaError, UsageError
from tests.conftest import DATA_DIR, requires_data

RATE = 16_000


def tone(seconds: float = 1.0, rate: int = RATE, freq: float = 440.0, amp: float = 0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(("suffix", "rate"), [
    ("wav", 44100), ("flac", 22050), ("mp3", 44100), ("m4a", 48000), ("ogg", 48000),
    ("webm", 48000), ("wav", 8000),
])
def test_roundtrip_containers(tmp_path: Path, suffix: str, rate: int) -> None:
    path = write_audio(tmp_path / f"a.{suffix}", tone(2.0, rate), rate)
    clip = load_audio(path, normalize=False)
    assert clip.sample_rate == RATE and clip.samples.dtype == np.float32
    assert abs(clip.duration - 2.0) < 0.08
    assert clip.source is not None and clip.source.sample_rate == rate
    # the tone survives: its spectrum peaks at 440 Hz after resampling
    spec = np.abs(np.fft.rfft(clip.samples[:RATE]))
    assert abs(np.argmax(spec) - 440) <= 2


def test_shape_51_downmix(tmp_path: Path) -> None:
    six = np.stack([tone(1.0, 48000, 300 + 100 * i, 0.1) for i in range(6)])
    clip = load_audio(write_audio(tmp_path / "six.wav", six, 48000), normalize=False)
    assert clip.source is not None and clip.source.channels == 6
    assert clip.samples.ndim == 1 and abs(clip.duration - 1.0) < 0.01


def test_loudness_normalised() -> None:
    quiet = AudioClip(samples=tone(1.0, amp=0.01), sample_rate=RATE)
    loud = AudioClip(samples=tone(1.0, amp=0.9), sample_rate=RATE)
    a, b = normalize_loudness(quiet), normalize_loudness(loud)
    assert abs(gated_level_db(a.samples, RATE) - gated_level_db(b.samples, RATE)) < 0.1
    # silence around the tone does not change the gain (gated)
    padded = AudioClip(samples=np.concatenate([np.zeros(3 * RATE, np.float32), quiet.samples]),
                       sample_rate=RATE)
    assert abs(normalize_loudness(padded).gain_db - a.gain_db) < 0.1


def test_max_seconds_and_blocks(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.wav", tone(5.0), RATE)
    clip = load_audio(path, max_seconds=2.0)
    assert clip.truncated and len(clip.samples) == 2 * RATE
    blocks = list(iter_audio_blocks(path, block_seconds=2.0))
    assert [len(b.samples) for b in blocks] == [2 * RATE, 2 * RATE, RATE]
    assert [b.offset for b in blocks] == [0.0, 2.0, 4.0]


def test_exception_no_audio_track(astronaut_video: Path) -> None:
    with pytest.raises(NoAudioError, match="no audio track"):
        load_audio(astronaut_video)


def test_exception_not_media(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_text("hello, this is text\n" * 20)
    with pytest.raises(NotMediaError):
        load_audio(tmp_path / "x.wav")
    (tmp_path / "e.mp3").write_bytes(b"")
    with pytest.raises(EmptyFileError):
        load_audio(tmp_path / "e.mp3")
    with pytest.raises(UsageError):
        load_audio(tmp_path / "e.mp3", max_seconds=0)


def test_corrupt_frames_in_the_middle(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "c.mp3", tone(6.0), RATE, bitrate=32000)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 600] = np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    clip = load_audio(path, normalize=False)
    assert clip.duration > 5.0  # the audio after the damage is still there


def test_many_bad_packets_give_one_warning(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A badly damaged stream is one warning line with the count, not a line per packet."""
    path = write_audio(tmp_path / "d.m4a", tone(6.0), RATE)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for k in range(data.index(b"mdat") + 2000, len(data) - 3000, 1500):
        data[k:k + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="doppelab.audio.decode"):
        clip = load_audio(path, normalize=False)
    assert clip.skipped_packets >= 5 and clip.duration > 2.0
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    assert f"skipped {clip.skipped_packets} undecodable" in caplog.records[0].getMessage()


def test_implausible_sample_rate_is_refused(tmp_path: Path) -> None:
    """A WAV header claiming 1 Hz made 64 KB into 9 hours to resample (37 s of CPU)."""
    path = write_audio(tmp_path / "r.wav", tone(1.0), RATE)
    data = bytearray(path.read_bytes())
    fmt = data.index(b"fmt ") + 8
    data[fmt + 4:fmt + 8] = (1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(TruncatedMediaError, match="implausible sample rate 1 Hz"):
        load_audio(path)


def test_truncated_to_nothing(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "t.mp3", tone(1.0), RATE)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises((TruncatedMediaError, NotMediaError)):
        load_audio(path)


def test_noise_and_silence_have_no_speech() -> None:
    rng = np.random.default_rng(0)
    noise = AudioClip(samples=(0.1 * rng.standard_normal(3 * RATE)).astype(np.float32),
                      sample_rate=RATE)
    silence = AudioClip(samples=np.zeros(3 * RATE, np.float32), sample_rate=RATE)
    assert speech_segments(noise) == [] and speech_segments(silence) == []
    assert speech_audio(silence).size == 0
    with pytest.raises(UsageError):
        speech_segments(AudioClip(samples=np.zeros(800, np.float32), sample_rate=8000))


@requires_data()
@pytest.mark.data
def test_speech_found_and_stable_under_codecs() -> None:
    clip = load_audio(DATA_DIR / "speech" / "deepspeech_arctic_a0024.flac")
    segs = speech_segments(clip)
    assert segs and 2.5 < sum(s.duration for s in segs) <= clip.duration
    # silence added around the utterance: the same speech, shifted
    pad = np.zeros(2 * RATE, np.float32)
    padded = clip.with_samples(np.concatenate([pad, clip.samples, pad]))
    segs2 = speech_segments(padded)
    assert abs(segs2[0].start - 2.0 - segs[0].start) < 0.1
    telephone = codec_roundtrip(clip.samples, RATE, "mulaw", codec_rate=8000)
    segs3 = speech_segments(clip.with_samples(telephone))
    assert abs(sum(s.duration for s in segs3) - sum(s.duration for s in segs)) < 0.5


def test_32_channel_wav_downmix(tmp_path: Path) -> None:
    """32 channels without a channel mask: FFmpeg's resampler cannot downmix the unordered
    layout; the decoder averages the channels itself (fuzz round 3 found the crash)."""
    from tests.core.test_media_channels import wav_32

    clip = load_audio(wav_32(tmp_path / "32.wav", seconds=1.0), normalize=False)
    assert clip.source is not None and clip.source.channels == 32
    assert clip.samples.shape == (RATE,) and clip.sample_rate == RATE
    # the mean of 0.01 * (k + 1) for k < 32 is 0.165: a 440 Hz tone at that amplitude
    assert np.abs(clip.samples).max() == pytest.approx(0.165, abs=0.002)
    spec = np.abs(np.fft.rfft(clip.samples))
    assert abs(np.argmax(spec) - 440) <= 1
    blocks = list(iter_audio_blocks(tmp_path / "32.wav", sample_rate=8000, block_seconds=0.25))
    assert sum(len(b.samples) for b in blocks) == 8000  # through the resampler too


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_nan_and_inf_samples_read_as_silence(tmp_path: Path, dtype: str) -> None:
    """A float WAV with NaN and infinite samples: finite audio, no numpy warning downstream
    (a NaN used to make the whole loudness-normalised clip NaN)."""
    import struct
    import warnings

    x = (0.3 * np.sin(np.arange(16_000) / 7)).astype(np.float64)
    x[100::2000], x[200::2000], x[300::2000] = np.nan, np.inf, -np.inf
    data = x.astype(dtype).tobytes()
    width = np.dtype(dtype).itemsize
    fmt = struct.pack("<HHIIHH", 3, 1, 16_000, 16_000 * width, width, 8 * width)
    wav = tmp_path / "nan.wav"
    wav.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
                    + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = load_audio(wav)
    assert np.isfinite(clip.samples).all() and len(clip.samples) == 16_000
    assert np.isfinite(clip.gain_db)


def test_exception_nothing_decodes_gives_the_error_alone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A WAV whose header says 0 channels: no packet decodes; the typed error gives the count
    and no warning line comes before it (the CLI printed two lines; fuzz round 5)."""
    import struct

    pcm = bytes(32_000)
    fmt = struct.pack("<HHIIHH", 1, 0, 16_000, 32_000, 2, 16)
    body = (b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm))
            + pcm)
    path = tmp_path / "channels0.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with caplog.at_level(logging.WARNING), pytest.raises(TruncatedMediaError,
                                                         match="bad packets"):
        load_audio(path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
