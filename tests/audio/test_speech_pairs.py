"""Paired codec-consistency training of the speech detector (toy features, no data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.detect.speech_model import SpeechTrainConfig, fit, predict_logits
from doppelab.detect.train_speech import subset_pairs, with_codec_pairs


def _toy() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Originals (fakes carry a band), their "codec" twins (a nuisance band on columns 50:60),
    and extra fakes with the nuisance alone, so the nuisance predicts "fake" spuriously."""
    rng = np.random.default_rng(0)
    n, d = 96, 64
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    x[y == 1, 30:40] += 3.0
    twins = x.copy()
    twins[:, 50:60] += 3.0
    extra = rng.standard_normal((n, d)).astype(np.float32)
    extra[:, 50:60] += 3.0
    xs = np.concatenate([x, twins, extra])
    ys = np.concatenate([y, y, np.ones(n, np.int64)])
    return xs, ys, (np.arange(n), n + np.arange(n))


def test_consistency_shrinks_the_twin_gap() -> None:
    x, y, pairs = _toy()
    gaps = []
    for weight in (0.0, 5.0):
        cfg = SpeechTrainConfig(steps=250, batch=32, consistency=weight)
        s = predict_logits(fit(x, y, cfg, pairs=pairs), x)
        gaps.append(float(np.abs(s[pairs[0]] - s[pairs[1]]).mean()))
    assert gaps[1] < 0.5 * gaps[0]


def test_with_codec_pairs_appends_and_subsets() -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    tr = (x, np.array([0, 1, 0, 1]), ["real", "lpc", "real", "lpc"], ["a", "a", "b", "b"])
    twins = (x[[0, 2]] + 100, np.array([0, 2]), np.array([0, 0]))
    (xa, ya, fam, group), pairs = with_codec_pairs(tr, twins)
    assert xa.shape == (6, 3) and list(ya) == [0, 1, 0, 1, 0, 0]
    assert fam[4:] == ["real", "real"] and group[4:] == ["a", "b"]
    np.testing.assert_array_equal(xa[pairs[1]] - xa[pairs[0]], 100)
    keep = np.array([g == "b" for g in group])
    sub = subset_pairs(pairs, keep)
    assert sub is not None
    np.testing.assert_array_equal(xa[keep][sub[1]] - xa[keep][sub[0]], 100)
    assert len(sub[0]) == 1 and subset_pairs(None, keep) is None


def test_codec_pair_features_shape_and_cache(tmp_path: Path) -> None:
    from doppelab.detect.speech_data import WINDOW
    from doppelab.detect.speech_pairs import PAIR_CONDITIONS, codec_pair_features
    from doppelab.detect.speech_phase import N_WINDOW_FEATURES

    rng = np.random.default_rng(0)
    shards = tmp_path / "shards"
    shards.mkdir()
    t = np.arange(WINDOW) / 16_000
    for fam, f0 in (("real", 140.0), ("lpc", 210.0)):
        tone = np.sin(2 * np.pi * f0 * t) * 0.3 + 0.01 * rng.standard_normal(WINDOW)
        pcm = (np.stack([tone, tone[::-1]]) * 8192).astype(np.int16)
        np.savez(shards / f"train-{fam}.npz", windows=pcm, groups=np.array([fam + "a", fam + "b"]),
                 conditions=np.array(["none", "none"]))
    x, origin, y = codec_pair_features(tmp_path)
    assert x.shape == (2 * len(PAIR_CONDITIONS) * 2, N_WINDOW_FEATURES)
    assert list(origin) == [0, 1, 2, 3] * len(PAIR_CONDITIONS)
    assert list(y) == [0, 0, 1, 1] * len(PAIR_CONDITIONS)
    assert np.isfinite(x).all()
    again = codec_pair_features(tmp_path)  # from the cache
    np.testing.assert_array_equal(again[0], x)


def test_codec_pair_features_with_prosody(tmp_path: Path) -> None:
    from doppelab.detect.speech_data import WINDOW
    from doppelab.detect.speech_pairs import PAIR_CONDITIONS, codec_pair_features
    from doppelab.detect.speech_phase import N_WINDOW_FEATURES
    from doppelab.detect.speech_prosody import N_PROSODY

    shards = tmp_path / "shards"
    shards.mkdir()
    t = np.arange(WINDOW) / 16_000
    for fam, f0 in (("real", 140.0), ("glottal", 210.0)):
        tone = np.sin(2 * np.pi * f0 * t) * 0.3
        np.savez(shards / f"train-{fam}.npz", windows=(tone[None] * 8192).astype(np.int16),
                 groups=np.array([fam]), conditions=np.array(["none"]))
    base = codec_pair_features(tmp_path)  # no extra family: the real window only
    assert base[0].shape == (len(PAIR_CONDITIONS), N_WINDOW_FEATURES)
    x, origin, y = codec_pair_features(tmp_path, extra=("glottal",), prosody=True)
    assert list(origin) == [0, 1] * len(PAIR_CONDITIONS)
    assert x.shape == (2 * len(PAIR_CONDITIONS), N_WINDOW_FEATURES + N_PROSODY)
    assert list(y) == [0, 1] * len(PAIR_CONDITIONS) and np.isfinite(x).all()
    assert len(list(tmp_path.glob("prosody-p2-pairs-glottal-s*-train.npz"))) == 1
