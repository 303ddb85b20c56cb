"""The fast paths of audio scoring give what the plain paths give.

Silero VAD in its GEMM layout against the wheel's own graph, spectral statistics of sliding
windows against those of stacked windows, the decoder's direct path against the resampler, the
video-timeline option; and the shared helpers (mel filterbank, ONNX sessions, verdict, segment
join) that replaced duplicates.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from doppelab.audio import AudioClip, join_segments, load_audio, speech_audio, speech_segments
from doppelab.audio import decode as decode_mod
from doppelab.audio.encode import write_audio
from doppelab.audio.mel import mel_filterbank
from doppelab.audio.vad import Segment, speech_probabilities
from doppelab.core.errors import CheckpointError, UsageError
from doppelab.core.inference import onnx_session
from doppelab.detect.base import verdict
from doppelab.detect.speech import AudioWindows, SpeechDetector
from doppelab.detect.speech_data import WINDOW, speech_signal, speech_windows
from doppelab.detect.speech_features import sliding_stats, spectral_stats
from doppelab.detect.speech_phase import N_WINDOW_FEATURES
from tests.conftest import DATA_DIR, requires_data

RATE = 16_000


def voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts of a harmonic complex with a wandering pitch, over light noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) * (np.sin(2 * np.pi * 0.2 * t) > -0.3)
    x = 0.2 * tone * envelope + 0.003 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def test_gemm_vad_matches_shipped_graph() -> None:
    x = voiced(20.0)
    fast = speech_probabilities(x)
    ref = speech_probabilities(x, layout="shipped")
    assert fast.shape == ref.shape == (-(-len(x) // 512),)
    assert float(np.abs(fast - ref).max()) < 1e-4
    clip = AudioClip(samples=x, sample_rate=RATE)
    assert speech_segments(clip, probabilities=fast) == speech_segments(clip, probabilities=ref)
    with pytest.raises(UsageError):
        speech_probabilities(x, layout="torch")


@pytest.mark.data
@requires_data()
def test_gemm_vad_same_segments_on_dev_speech() -> None:
    with open(DATA_DIR / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"][:8]
    for r in rows:
        clip = load_audio(DATA_DIR / r["file"])
        fast = speech_probabilities(clip.samples)
        ref = speech_probabilities(clip.samples, layout="shipped")
        assert float(np.abs(fast - ref).max()) < 1e-4
        assert speech_segments(clip, probabilities=fast) == speech_segments(
            clip, probabilities=ref)


@pytest.mark.parametrize("hop", [16_000, 8_000, 4_000, 5_333, 32_000, 48_000])
def test_sliding_stats_equal_stacked_windows(hop: int) -> None:
    x = voiced(7.3, seed=1) + 0.01
    count = (len(x) - WINDOW) // hop + 1
    stacked = spectral_stats(np.stack([x[k * hop:k * hop + WINDOW] for k in range(count)]))
    assert np.array_equal(sliding_stats(x, WINDOW, hop, count), stacked)  # bit for bit
    assert sliding_stats(x, WINDOW, hop, 0).shape == (0, stacked.shape[1])
    with pytest.raises(ValueError):
        sliding_stats(x, WINDOW, hop, count + 50)


def test_detector_sliding_windows_score_as_stacked() -> None:
    det = SpeechDetector()
    signal = speech_signal(voiced(6.0, seed=2), [Segment(0.2, 5.8)])
    sliding = AudioWindows.sliding(signal, RATE)
    stacked = AudioWindows(windows=speech_windows(voiced(6.0, seed=2), [Segment(0.2, 5.8)]))
    assert len(sliding) == len(stacked) == 4
    assert np.array_equal(sliding.windows, stacked.windows)
    a, b = det.forward(sliding), det.forward(stacked)
    # magnitude and phase statistics bit for bit; the prosody statistics (a model that has
    # them) differ by the decimation filter's edge at each window's ends only
    first = slice(0, N_WINDOW_FEATURES)
    assert np.array_equal(a["features"][:, first], b["features"][:, first])
    np.testing.assert_allclose(a["features"], b["features"], atol=2e-3)
    np.testing.assert_allclose(a["logits"], b["logits"], atol=0.05)
    assert len(AudioWindows.sliding(signal[: WINDOW - 1], RATE)) == 0


@pytest.mark.parametrize("suffix", ["wav", "flac", "mp3"])
def test_decoder_direct_path_equals_resampler(tmp_path: Path, suffix: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_audio(tmp_path / f"a.{suffix}", voiced(3.0), RATE)
    direct = load_audio(path, normalize=False).samples
    monkeypatch.setattr(decode_mod, "_DIRECT", {})
    resampled = load_audio(path, normalize=False).samples
    assert np.array_equal(direct, resampled)


def test_timestamps_option(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.wav", voiced(2.0), RATE)
    plain = load_audio(path, normalize=False)
    timed = load_audio(path, normalize=False, timestamps=True)
    assert timed.offset == 0.0 and np.array_equal(plain.samples, timed.samples)
    blocks = list(decode_mod.iter_audio_blocks(path, block_seconds=0.5, timestamps=True))
    assert [b.offset for b in blocks] == [0.0, 0.5, 1.0, 1.5]


def test_mel_filterbank_scales() -> None:
    htk = mel_filterbank(40, 400, fmin=60.0, fmax=7600.0)
    assert htk.shape == (40, 201) and htk.min() >= 0 and htk.max() <= 1.0
    assert np.all(htk.argmax(axis=1)[1:] >= htk.argmax(axis=1)[:-1])  # centres ascend
    slaney = mel_filterbank(40, 400, scale="slaney", norm="slaney")
    hz_per_bin = RATE / 400
    areas = slaney.sum(axis=1) * hz_per_bin
    assert np.allclose(areas[5:], 1.0, atol=0.1)  # unit area once filters span several bins
    with pytest.raises(UsageError):
        mel_filterbank(40, 400, scale="bark")
    with pytest.raises(UsageError):
        mel_filterbank(40, 400, fmin=9000.0)


def test_onnx_session_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        onnx_session(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(CheckpointError):
        onnx_session(bad)
    with pytest.raises(UsageError):
        onnx_session(bad, threads=0)


def test_verdict_reasons() -> None:
    assert verdict(0.9, 0.15) == ("likely fake", None)
    assert verdict(0.9, 0.15, fake_reason="synthetic speech") == ("likely fake",
                                                                  "synthetic speech")
    assert verdict(0.2, 0.15) == ("likely real", None)
    assert verdict(0.5, 0.15, unsure_reason="near") == ("inconclusive", "near")


def test_join_segments_is_speech_audio() -> None:
    x = np.arange(RATE * 2, dtype=np.float32)
    segs = [Segment(0.1, 0.2), Segment(1.0, 1.5)]
    joined = join_segments(x, segs, RATE)
    assert len(joined) == 1600 + 8000 and joined[0] == 1600.0
    clip = AudioClip(samples=x, sample_rate=RATE)
    assert np.array_equal(speech_audio(clip, segs), joined)
    assert join_segments(x, [], RATE).shape == (0,)


def test_fast_reductions_are_numpys() -> None:
    from doppelab.detect.speech_features import _mean13, _std13, _sum8

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 199, 32, 8)) * 3 + 1).astype(np.float32)
    assert np.array_equal(_sum8(x), x.sum(axis=-1))
    assert np.array_equal(_sum8(x) / np.float32(8), x.mean(axis=3))
    assert np.array_equal(_mean13(x), x.mean(axis=(1, 3)))
    assert np.array_equal(_std13(x), x.std(axis=(1, 3)))
    odd = x[..., :5]
    assert np.array_equal(_sum8(odd), odd.sum(axis=-1))


def test_decoder_direct_path_32_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    path = tmp_path / "s32.wav"
    pcm = (voiced(1.0) * 2**31 * 0.9).astype(np.int32)[None, :]
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s32le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s32", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    direct = load_audio(path, normalize=False).samples
    monkeypatch.setattr(decode_mod, "_DIRECT", {})
    assert np.array_equal(direct, load_audio(path, normalize=False).samples)
    assert np.array_equal(direct, pcm[0].astype(np.float32) * np.float32(2.0 ** -31))
