"""Loudness: a gated RMS level and normalisation to a fixed target.

The level is measured like the gating of EBU R128 / ITU-R BS.1770, without its K-weighting
filter: mean power over 100 ms blocks that pass an absolute gate (-70 dBFS) and a relative gate
(10 dB below the mean of the blocks that passed the first). Silence and pauses therefore do not
pull the level down, so the same utterance with more or less silence around it gets the same gain.
Convention: dBFS relative to a full-scale square wave (RMS 1.0 = 0 dBFS).
"""

from __future__ import annotations

import numpy as np

from doppelab.audio.decode import AudioClip, SamplesF32

__all__ = ["TARGET_DBFS", "gated_level_db", "normalize_loudness", "normalize_samples"]

TARGET_DBFS = -23.0
_BLOCK_S = 0.1
_ABS_GATE_DB = -70.0
_REL_GATE_DB = -10.0
_MAX_GAIN_DB = 60.0


def gated_level_db(samples: SamplesF32, sample_rate: int) -> float | None:
    """Gated RMS level in dBFS, or None when every block is below the absolute gate."""
    block = max(1, round(_BLOCK_S * sample_rate))
    n = len(samples) // block
    if n == 0:
        blocks = np.asarray(samples, np.float64)[None, :] if len(samples) else None
    else:
        blocks = np.asarray(samples[: n * block], np.float64).reshape(n, block)
    if blocks is None:
        return None
    power = np.mean(blocks * blocks, axis=1)
    db = 10 * np.log10(np.maximum(power, 1e-20))
    gate = db > _ABS_GATE_DB
    kept, kept_db = power[gate], db[gate]
    if kept.size == 0:
        return None
    rel = 10 * np.log10(kept.mean()) + _REL_GATE_DB
    final = kept[kept_db > rel]
    return float(10 * np.log10(final.mean()))


def normalize_samples(
    samples: SamplesF32, sample_rate: int, target_db: float = TARGET_DBFS
) -> tuple[SamplesF32, float]:
    """Scale ``samples`` to ``target_db`` gated level; returns (scaled, gain in dB).

    Silence (nothing above the absolute gate) is returned unchanged with gain 0. The gain is
    capped at +-60 dB; samples are not clipped (float32 may exceed 1.0).
    """
    level = gated_level_db(samples, sample_rate)
    if level is None:
        return np.asarray(samples, np.float32), 0.0
    gain_db = float(np.clip(target_db - level, -_MAX_GAIN_DB, _MAX_GAIN_DB))
    scaled = np.asarray(samples, np.float32) * np.float32(10 ** (gain_db / 20))
    return scaled.astype(np.float32, copy=False), gain_db


def normalize_loudness(clip: AudioClip, target_db: float = TARGET_DBFS) -> AudioClip:
    """The clip scaled to ``target_db`` (see :func:`normalize_samples`); ``gain_db`` records it."""
    scaled, gain = normalize_samples(clip.samples, clip.sample_rate, target_db)
    return clip.with_samples(scaled, gain_db=clip.gain_db + gain)
