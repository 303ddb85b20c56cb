"""The faster speech scoring code gives the scores of the code before it.

Each rewritten piece against the plain numpy/SciPy definition it replaces (box filter,
percentile spread, per-window NaN statistics, cache-sized blocks, the VAD's STFT by FFT), and the
whole detector against features and logits the previous code computed
(``data/speech_reference.npz``, written by that code from the synthetic signal below).
``bench/audio_equivalence.py`` makes the same check on real and fake recordings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from doppelab.audio import AudioClip, speech_segments
from doppelab.audio.silero import basis_is_hann_dft
from doppelab.audio.vad import _model_path, speech_probabilities
from doppelab.core.memory import retain_freed_memory
from doppelab.detect import speech_features, speech_phase, speech_prosody
from doppelab.detect.speech import AudioWindows, SpeechDetector
from tests.audio.test_fast_paths import voiced

REFERENCE = Path(__file__).parent / "data" / "speech_reference.npz"


def test_box_filter_matches_scipy() -> None:
    s = np.random.default_rng(0).normal(0, 4, (3, 50, 256)).astype(np.float32)
    ref = uniform_filter1d(s, 9, axis=2)
    assert np.abs(speech_features._box9(s) - ref).max() < 1e-5


@pytest.mark.parametrize("frames", [200, 7, 2])
def test_spread_matches_percentile(frames: int) -> None:
    band = np.random.default_rng(frames).normal(0, 3, (5, frames, 32)).astype(np.float32)
    high, low = np.percentile(band, [90, 10], axis=1)
    assert np.abs(speech_features._spread(band) - (high - low)).max() < 1e-5


def test_row_statistics_match_numpy_nan_functions() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(0, 1, (40, 99)).astype(np.float32)
    mask = rng.random((40, 99)) < rng.random((40, 1))
    mask[:, :3] = True  # every row holds numbers
    mask[0] = True
    a = np.where(mask, v, np.float32(np.nan))
    assert np.abs(speech_prosody._median_rows(a) - np.nanmedian(a, axis=1)).max() < 1e-6
    assert np.abs(speech_prosody._quantile_rows(a, 0.9)
                  - np.nanpercentile(a, 90, axis=1)).max() < 1e-6
    assert np.abs(speech_prosody._std_rows(v, mask) - np.nanstd(a, axis=1)).max() < 1e-6


def test_blocks_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    x = voiced(8.0, seed=1)
    w = np.stack([x[k * 16_000:k * 16_000 + 32_000] for k in range(7)])
    blocked = (speech_features.sliding_stats(x, 32_000, 16_000, 7), speech_phase.phase_stats(w),
               speech_prosody.sliding_prosody(x, 32_000, 16_000, 7))
    monkeypatch.setattr(speech_features, "_WINDOW_BLOCK", 1000)
    monkeypatch.setattr(speech_features, "_FRAME_BLOCK", 100_000)
    monkeypatch.setattr(speech_phase, "_BLOCK", 1000)
    monkeypatch.setattr(speech_prosody, "_FRAME_BLOCK", 100_000)
    whole = (speech_features.sliding_stats(x, 32_000, 16_000, 7), speech_phase.phase_stats(w),
             speech_prosody.sliding_prosody(x, 32_000, 16_000, 7))
    for a, b in zip(blocked, whole, strict=True):
        np.testing.assert_array_equal(a, b)


def test_vad_fft_layout_matches_shipped_graph() -> None:
    assert basis_is_hann_dft(_model_path())
    x = voiced(12.0, seed=2)
    fft, gemm = speech_probabilities(x), speech_probabilities(x, layout="gemm")
    ref = speech_probabilities(x, layout="shipped")
    assert np.abs(fft - ref).max() < 1e-4 and np.abs(fft - gemm).max() < 1e-4
    clip = AudioClip(samples=x, sample_rate=16_000)
    assert speech_segments(clip, probabilities=fft) == speech_segments(clip, probabilities=ref)


def test_detector_matches_the_previous_code() -> None:
    ref = np.load(REFERENCE)
    x = voiced(float(ref["seconds"]), seed=int(ref["signal_seed"]))
    x = (x / np.sqrt(np.mean(x ** 2)) * 0.07).astype(np.float32)
    det = SpeechDetector()
    out = det.forward(AudioWindows.sliding(x, 16_000))
    spread = ref["features"].std(axis=0) + 1e-3
    assert out["features"].shape == ref["features"].shape
    # float32 FFT/BLAS rounding differs between CPUs: on an AMD EPYC the reference (written on
    # another machine) is matched to 3.6e-4 of a feature's spread (one prosody statistic whose
    # spread is 1.3e-3: 5e-7 absolute); a changed computation moves features by whole percents
    assert (np.abs(out["features"] - ref["features"]) / spread).max() < 2e-3
    # the shipped model on the previous code's features (its stored logits came from the model
    # shipped then; the weights have been retrained since, the features have not changed)
    expected = det._session.run(None, {"features": ref["features"].astype(np.float32)})[0]
    assert np.abs(out["logits"] - expected.reshape(-1)).max() < 1e-4
    assert np.abs(speech_probabilities(x, layout="shipped") - ref["vad"]).max() < 1e-6


def test_retain_freed_memory_is_idempotent() -> None:
    first = retain_freed_memory()
    assert isinstance(first, bool) and retain_freed_memory() is first
