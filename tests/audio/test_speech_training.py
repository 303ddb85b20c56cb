"""The speech detector's training pieces: fake generators, codec conditions, windows, LFCC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from doppelab.audio import Segment
from doppelab.core.errors import CheckpointError
from doppelab.detect.speech_data import CONDITIONS, WINDOW, apply_condition, speech_windows
from doppelab.detect.speech_fakes import (
    COPY_SYNTHESIS,
    random_sentence,
    tts,
    tts_available,
)
from doppelab.detect.speech_features import N_FEATURES, spectral_stats
from doppelab.detect.speech_model import (
    SpeechMLP,
    SpeechTrainConfig,
    export_onnx,
    fit,
    predict_logits,
)
from doppelab.detect.speech_vocoder import (
    ISTFTGenerator,
    VocoderConfig,
    load_vocoder,
    make_generator,
    train_vocoder,
    vocode,
)

RATE = 16_000


def voiced(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A buzzy vowel-like test signal (pulse train through two resonances)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.sign(np.sin(2 * np.pi * (120 + 20 * np.sin(2 * np.pi * t)) * t)) * 0.1
    x += 0.01 * rng.standard_normal(n)
    from scipy.signal import lfilter

    for f in (700, 1200):
        r, th = 0.97, 2 * np.pi * f / RATE
        x = lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], x)
    x = 0.3 * x / np.abs(x).max() + 0.003 * rng.standard_normal(n)  # a room's noise floor
    return x.astype(np.float32)


@pytest.mark.parametrize("family", sorted(COPY_SYNTHESIS))
def test_copy_synthesis_shape(family: str) -> None:
    x = voiced()
    y = COPY_SYNTHESIS[family](x, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert 0 < np.abs(y).max() < 10 and not np.allclose(y, x, atol=1e-3)


@pytest.mark.parametrize("arch", ["melgan", "istft"])
def test_neural_vocoder_shape(arch: str) -> None:
    cfg = VocoderConfig(channels=16, arch=arch, blocks=2)
    torch.manual_seed(0)
    y = vocode(voiced(0.5), make_generator(cfg).eval(), cfg)
    assert y.shape == (RATE // 2,) and np.isfinite(y).all()


def test_unknown_vocoder_architecture_is_refused() -> None:
    with pytest.raises(CheckpointError, match="unknown vocoder architecture"):
        make_generator(VocoderConfig(arch="wavenet"))


def test_istft_vocoder_trains_saves_and_resumes(tmp_path: Path) -> None:
    """A few seconds of training lower the loss target's mel error, the checkpoint reloads as
    the same iSTFT generator, and a second call resumes from its step count."""
    cfg = VocoderConfig(arch="istft", channels=16, blocks=1, n_mels=40, segment=4096, batch=2)
    waves = [voiced(1.0, seed) for seed in range(3)]
    ckpt = tmp_path / "v.pt"
    torch.manual_seed(0)
    untrained = vocode(waves[0], make_generator(cfg).eval(), cfg)
    first = train_vocoder(waves, ckpt, minutes=0.05, cfg=cfg)
    model, loaded = load_vocoder(ckpt)
    assert loaded == cfg and isinstance(model, ISTFTGenerator) and first > 0
    trained = vocode(waves[0], model, cfg)

    def err(y: np.ndarray) -> float:
        return float(np.mean(np.abs(np.log(np.abs(np.fft.rfft(y)) + 1e-3)
                                    - np.log(np.abs(np.fft.rfft(waves[0])) + 1e-3))))
    assert err(trained) < err(untrained)
    assert train_vocoder(waves, ckpt, minutes=0.01, cfg=cfg) > first


@pytest.mark.skipif(not tts_available("espeak"), reason="espeak-ng not installed")
def test_tts_speaks() -> None:
    rng = np.random.default_rng(1)
    text = random_sentence(rng, "de")
    y = tts("espeak", text, rng, split="dev")
    assert y.dtype == np.float32 and len(y) > RATE // 2


@pytest.mark.parametrize("cond", [c for c in CONDITIONS if c.kind != "none"],
                         ids=lambda c: c.name)
def test_codec_condition_keeps_length(cond) -> None:
    x = voiced(1.0)
    y = apply_condition(x, cond)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.corrcoef(np.abs(x[:8000]), np.abs(y[:8000]))[0, 1] > 0.2  # still the same signal


def test_windows_tile_and_normalise() -> None:
    x = voiced(3.0)
    short = speech_windows(x, [Segment(0.5, 1.3)])
    assert short.shape == (1, WINDOW)
    long_ = speech_windows(x, [Segment(0.0, 3.0)], hop_seconds=0.5)
    assert long_.shape == (3, WINDOW)
    quiet = speech_windows(x * 0.01, [Segment(0.0, 3.0)], hop_seconds=0.5)
    np.testing.assert_allclose(quiet, long_, rtol=1e-3, atol=1e-5)  # loudness removed
    assert speech_windows(x, []).shape == (0, WINDOW)


def test_stats_shape_and_gain_invariance() -> None:
    w = np.stack([voiced(2.0, 0), voiced(2.0, 1)])
    f = spectral_stats(w)
    assert f.shape == (2, N_FEATURES) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_allclose(spectral_stats(w * 5.0), f, atol=2e-2)  # level removed
    with pytest.raises(ValueError):
        spectral_stats(np.zeros((1, 100), np.float32))


def test_mlp_learns_a_toy_task_and_exports() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, N_FEATURES)).astype(np.float32) * 3 + 5
    y = (np.arange(128) % 2).astype(np.int64)
    x[y == 1, 30:40] += 3.0  # the fakes carry a band
    model = fit(x, y, SpeechTrainConfig(steps=300, batch=32))
    assert isinstance(model, SpeechMLP)
    s = predict_logits(model, x)
    assert s[y == 1].mean() > s[y == 0].mean() + 1.0
    import onnxruntime as ort

    sess = ort.InferenceSession(export_onnx(model, N_FEATURES), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], s, atol=1e-4)
