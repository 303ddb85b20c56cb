"""Extra training generators (speech_extra) and the pitch / micro-prosody statistics."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.detect.speech_data import FAMILIES
from doppelab.detect.speech_extra import EXTRA_FAMILIES, EXTRA_VARIANT_OF
from doppelab.detect.speech_prosody import N_PROSODY, prosody_stats
from tests.audio.test_speech_training import voiced

RATE = 16_000


@pytest.mark.parametrize("family", sorted(EXTRA_FAMILIES))
def test_extra_generator_shape(family: str) -> None:
    x = voiced(1.5)
    y = EXTRA_FAMILIES[family](x, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert 0 < np.abs(y).max() < 10 and not np.allclose(y, x, atol=1e-3)


def test_extra_families_name_their_parent() -> None:
    assert set(EXTRA_VARIANT_OF) == set(EXTRA_FAMILIES)
    assert set(EXTRA_VARIANT_OF.values()) <= set(FAMILIES[1:])
    assert not set(EXTRA_FAMILIES) & set(FAMILIES)


def _pulses(f0: np.ndarray, seed: int, jitter: float) -> np.ndarray:
    """Impulses at ``f0`` (Hz per sample) with relative period jitter, through two formants."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    x = np.zeros(len(f0))
    t = 0.0
    while t < len(f0):
        x[int(t)] = 1.0 + (0.1 * rng.standard_normal() if jitter else 0.0)
        t += RATE / f0[int(t)] * (1 + jitter * rng.standard_normal())
    for f in (700, 1200):
        r, th = 0.97, 2 * np.pi * f / RATE
        x = lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], x)
    return (0.3 * x / np.abs(x).max() + 1e-3 * rng.standard_normal(len(x))).astype(np.float32)


def test_prosody_shape_and_exception() -> None:
    w = np.stack([voiced(2.0, s) for s in range(3)])
    p = prosody_stats(w, batch=2)
    assert p.shape == (3, N_PROSODY) and p.dtype == np.float32 and np.isfinite(p).all()
    assert prosody_stats(np.zeros((0, 32_000), np.float32)).shape == (0, N_PROSODY)
    silent = prosody_stats(np.zeros((1, 32_000), np.float32))
    assert np.isfinite(silent).all()
    for bad in (np.zeros(32_000, np.float32), np.zeros((1, 100), np.float32)):
        with pytest.raises(ValueError):
            prosody_stats(bad)


def test_prosody_sees_jitter_and_gain_free() -> None:
    """A steady pulse train has a flatter period contour (smaller frame-to-frame log-period
    change, more flat steps) than the same contour with 2% cycle jitter; gain changes nothing."""
    f0 = np.linspace(110, 130, 32_000)
    steady = np.stack([_pulses(f0, s, 0.0) for s in range(2)])
    shaky = np.stack([_pulses(f0, s, 0.02) for s in range(2)])
    ps, pj = prosody_stats(steady), prosody_stats(shaky)
    assert (ps[:, 0] > 0.8).all()  # voiced
    assert (ps[:, 7] < pj[:, 7]).all()  # median |d log period|
    assert (ps[:, 10] > pj[:, 10]).all()  # flat fraction
    np.testing.assert_allclose(prosody_stats(steady * 5.0), ps, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("hop", [16_000, 8_000, 5_333])
def test_sliding_prosody_matches_stacked_windows(hop: int) -> None:
    from doppelab.detect.speech_prosody import sliding_prosody

    x = voiced(7.3, seed=1)
    count = (len(x) - 32_000) // hop + 1
    stacked = prosody_stats(np.stack([x[k * hop:k * hop + 32_000] for k in range(count)]))
    sliding = sliding_prosody(x, 32_000, hop, count)
    assert sliding.shape == stacked.shape == (count, N_PROSODY)
    np.testing.assert_allclose(sliding, stacked, atol=2e-3)  # the decimator's edge only
    assert sliding_prosody(x, 32_000, hop, 0).shape == (0, N_PROSODY)
    with pytest.raises(ValueError):
        sliding_prosody(x, 32_000, hop, count + 50)


def test_left_out_with_and_train_families() -> None:
    from doppelab.core.errors import UsageError
    from doppelab.detect.speech_extra import cache_suffix, left_out_with, train_families

    assert left_out_with("world") == ["world", "worldflat", "sinusoidal"]
    assert left_out_with("espeak") == ["espeak"]
    assert train_families(("glottal",)) == (*FAMILIES, "glottal")
    assert cache_suffix(("glottal", "glwide")) == "-glottal-glwide" and cache_suffix(()) == ""
    with pytest.raises(UsageError):
        train_families(("nonsense",))


def test_fused_density_flags_an_unseen_direction_and_exports() -> None:
    """Real ~ N(0, I); trained fakes differ in column 0 only. A fake family that moves column 5
    instead is missed by the MLP alone but flagged once the real-speech density is fused in;
    the ONNX graph gives the torch logits."""
    import onnxruntime as ort

    from doppelab.detect.speech_model import (
        FusedSpeech,
        SpeechTrainConfig,
        export_onnx,
        fit_fused,
        predict_logits,
    )

    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 8)).astype(np.float32)
    fake = rng.standard_normal((400, 8)).astype(np.float32)
    fake[:, 0] += 3.0
    x = np.concatenate([real, fake])
    y = np.r_[np.zeros(400), np.ones(400)].astype(np.int64)
    unseen = rng.standard_normal((200, 8)).astype(np.float32)
    unseen[:, 5] += 6.0
    test_real = rng.standard_normal((200, 8)).astype(np.float32)
    cfg = SpeechTrainConfig(steps=150, density_first=0)
    plain = fit_fused(x, y, cfg)
    fused = fit_fused(x, y, SpeechTrainConfig(steps=150, density_first=0, density_weight=1.0))
    assert isinstance(fused, FusedSpeech) and not isinstance(plain, FusedSpeech)

    def gap(model) -> float:
        return float(np.median(predict_logits(model, unseen))
                     - np.median(predict_logits(model, test_real)))
    assert gap(fused) > gap(plain) + 1.0
    sess = ort.InferenceSession(export_onnx(fused, 8), providers=["CPUExecutionProvider"])
    onnx = sess.run(None, {"features": test_real[:16]})[0].reshape(-1)
    np.testing.assert_allclose(onnx, predict_logits(fused, test_real[:16]), rtol=1e-4, atol=1e-4)


def _tiny_shards(work, families: dict[str, float]) -> None:
    """One 2 s tone window per family (and split) as a shard the recipe reads."""
    from doppelab.detect.speech_data import WINDOW

    shards = work / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    t = np.arange(WINDOW) / RATE
    for split in ("train", "dev"):
        for fam, f0 in families.items():
            if split == "dev" and fam in EXTRA_FAMILIES:
                continue
            tone = 0.3 * np.sign(np.sin(2 * np.pi * f0 * t)) + 0.01 * np.sin(2 * np.pi * 997 * t)
            np.savez(shards / f"{split}-{fam}.npz",
                     windows=(tone[None] * 8192).astype(np.int16),
                     groups=np.array([f"{split}-{fam}"]), conditions=np.array(["none"]))


def test_recipe_features_and_lofo_leave_variants_out(tmp_path, monkeypatch) -> None:
    """Train features with an extra family and prosody columns; the leave-one-out model of
    ``lpc`` trains without ``glottal`` (its variant), the one of ``world`` with it."""
    from doppelab.detect import train_speech as ts
    from doppelab.detect.speech_phase import N_WINDOW_FEATURES

    _tiny_shards(tmp_path, {"real": 120.0, "lpc": 150.0, "world": 180.0, "glottal": 210.0})
    x, y, fam, _ = ts.features(tmp_path, "train", True, ("glottal",), prosody=True)
    assert x.shape[1] == N_WINDOW_FEATURES + N_PROSODY and np.isfinite(x).all()
    assert "glottal" in fam and len(y) == len(fam) == len(x)
    assert len(list(tmp_path.glob("prosody-p2-glottal-s*-train.npz"))) == 1
    seen: list[set[str]] = []
    fam_a = np.array(fam)
    real_fit = ts.fit_fused

    def recording_fit(xt, yt, cfg, *args, **kwargs):
        seen.append(set(fam_a[_rows(x, xt)]))
        return real_fit(xt, yt, ts.SpeechTrainConfig(steps=2))

    monkeypatch.setattr(ts, "fit_fused", recording_fit)
    dev = ts.features(tmp_path, "dev", prosody=True)
    out = ts._lofo((x, y, fam, _), dev, ts.SpeechRecipe(lofo_steps=2), lambda _r: None)
    assert set(out) == {"lpc", "world"}
    by_left = dict(zip(["world", "lpc"], seen, strict=True))  # FAMILIES order
    assert "glottal" not in by_left["lpc"] and "lpc" not in by_left["lpc"]
    assert "glottal" in by_left["world"] and "world" not in by_left["world"]


def _rows(x: np.ndarray, xt: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``x`` that appear in ``xt``."""
    keys = {r.tobytes() for r in xt}
    return np.array([i for i, r in enumerate(x) if r.tobytes() in keys], np.int64)


def test_a_new_shard_makes_new_feature_caches(tmp_path) -> None:
    """The cached train features name the shards they were made from: after a family's shard
    is added, ``features`` reads it instead of the stale cache."""
    from doppelab.detect import train_speech as ts

    _tiny_shards(tmp_path, {"real": 120.0, "lpc": 150.0})
    _, _, fam, _ = ts.features(tmp_path, "train", True)
    assert "istft" not in fam
    _tiny_shards(tmp_path, {"real": 120.0, "lpc": 150.0, "istft": 190.0})
    _, _, fam, _ = ts.features(tmp_path, "train", True)
    assert "istft" in fam
    assert len(list(tmp_path.glob("features-v3-s*-train.npz"))) == 2


def test_seed_order_only_grows() -> None:
    """Every family has a seed; the families that existed before ``istft`` keep theirs (their
    shards do not change when a family is added)."""
    from doppelab.detect import speech_recipe as sr

    assert set(sr._SEED_ORDER) == set(FAMILIES) | set(EXTRA_FAMILIES)
    assert len(sr._SEED_ORDER) == len(set(sr._SEED_ORDER))
    before = ("real", "griffinlim", "world", "lpc", "melgan", "flite", "espeak", "festival",
              "glottal", "worldflat", "glwide", "sinusoidal")
    assert [sr._family_index(f) for f in before] == list(range(len(before)))
