"""The speech detector's data recipe: which units each family contributes, per split.

``build_speech_data`` makes every missing shard of :mod:`doppelab.detect.speech_data`:
``real`` (``2 * copies_per_family`` random recordings of train, 40% of that of dev, each under
two codec conditions), the copy-synthesis families (``griffinlim``, ``world``, ``lpc`` and the
neural vocoders ``melgan`` and ``istft``: ``copies_per_family`` random real recordings of train,
40% of that of dev, each re-synthesised once under one condition; a CPU budget), and
the TTS families (``flite``, ``espeak``, ``festival``: ``tts_per_engine`` sentences for train, a
third of that for dev, from voices reserved per split). ``extra`` families
(:mod:`doppelab.detect.speech_extra`) are made for ``train`` only, like the copy-synthesis
families.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path

import numpy as np

from doppelab.audio import SAMPLE_RATE, AudioClip, speech_segments
from doppelab.audio.decode import SamplesF32
from doppelab.core.errors import UsageError
from doppelab.detect import speech_data as sd
from doppelab.detect.speech_extra import EXTRA_FAMILIES
from doppelab.detect.speech_fakes import COPY_SYNTHESIS, TTS_ENGINES, random_sentence, tts
from doppelab.detect.speech_fakes import tts_available as _tts_ok
from doppelab.detect.speech_vocoder import NEURAL_FAMILIES, load_vocoder, vocode

__all__ = ["build_speech_data"]

_log = logging.getLogger(__name__)
Units = Iterator[sd.Unit]
RealCache = list[tuple[AudioClip, list, str]]
_ALL_FAMILIES = sd.FAMILIES + tuple(EXTRA_FAMILIES)  # measured, then extra
# A family's place here seeds its random draws, so this list only ever grows at its end (a new
# family leaves every other family's shards as they were).
_SEED_ORDER = ("real", "griffinlim", "world", "lpc", "melgan", "flite", "espeak", "festival",
               "glottal", "worldflat", "glwide", "sinusoidal", "istft")


def _copy(cache: RealCache, maker: Callable[..., SamplesF32], rng: np.random.Generator,
          limit: int) -> Units:
    picks = rng.permutation(len(cache))[:limit]
    for i in sorted(picks.tolist()):
        clip, segs, group = cache[i]
        yield maker(clip.samples, rng), segs, group


def _tts(engine: str, split: str, count: int, rng: np.random.Generator) -> Units:
    for i in range(count):
        text = random_sentence(rng, "de" if rng.random() < 0.35 else "en")
        try:
            y = tts(engine, text, rng, split=split)
        except Exception as exc:  # one failing sentence must not stop the build
            _log.warning("%s failed on %r: %s", engine, text, exc)
            continue
        clip = AudioClip(samples=y, sample_rate=SAMPLE_RATE)
        segs = speech_segments(clip)
        if segs:
            yield y, segs, f"{engine}-{split}-{i}"


def _neural_maker(vocoder: Path | None) -> Callable[..., SamplesF32] | None:
    if vocoder is None or not vocoder.exists():
        return None
    import torch

    torch.set_num_threads(1)
    model, cfg = load_vocoder(vocoder)
    return lambda x, rng: vocode(x, model, cfg)


def _units(family: str, split: str, cache: RealCache, rng: np.random.Generator,
           vocoders: Mapping[str, Path], tts_per_engine: int, copies: int) -> Units | None:
    limit = copies if split == "train" else max(1, copies * 2 // 5)
    if family == "real":
        return _copy(cache, lambda x, _rng: x, rng, 2 * limit)
    if family in COPY_SYNTHESIS:
        return _copy(cache, COPY_SYNTHESIS[family], rng, limit)
    if family in EXTRA_FAMILIES:
        return _copy(cache, EXTRA_FAMILIES[family], rng, limit)
    if family in NEURAL_FAMILIES:
        maker = _neural_maker(vocoders.get(family))
        return None if maker is None else _copy(cache, maker, rng, limit)
    if family in TTS_ENGINES:
        if not _tts_ok(family):
            return None
        count = tts_per_engine if split == "train" else max(1, tts_per_engine // 3)
        return _tts(family, split, count, rng)
    raise _unknown(family)


def _unknown(family: str) -> UsageError:
    return UsageError(f"unknown family {family!r}; known: {', '.join(_ALL_FAMILIES)}")


def _family_index(family: str) -> int:
    """A stable number for each family (seeds its random draws): its place in
    :data:`_SEED_ORDER`."""
    if family not in _ALL_FAMILIES:
        raise _unknown(family)
    return _SEED_ORDER.index(family)


def build_speech_data(
    data_dir: Path, work: Path, *, families: tuple[str, ...] = sd.FAMILIES,
    splits: tuple[str, ...] = ("train", "dev"), vocoders: Mapping[str, Path] | None = None,
    tts_per_engine: int = 100, copies_per_family: int = 200, seed: int = 0,
    progress: Callable[[str, int], None] | None = None,
) -> list[Path]:
    """Build every missing ``<work>/<split>-<family>.npz``; returns the shards that exist.

    ``vocoders`` maps each neural family (``melgan``, ``istft``) to its trained checkpoint. A
    family whose tool is missing (no TTS program, no vocoder checkpoint) is skipped with a
    logged warning.
    """
    work.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    for split in splits:
        cache: RealCache | None = None
        for family in families:
            out = work / f"{split}-{family}.npz"
            if split != "train" and family in EXTRA_FAMILIES:
                continue  # training material only
            if out.exists():
                done.append(out)
                continue
            if cache is None:
                cache = list(sd.real_units(sd.real_items(data_dir, split)))
            rng = np.random.default_rng(
                [seed, _family_index(family), 0 if split == "train" else 1])
            units = _units(family, split, cache, rng, vocoders or {}, tts_per_engine,
                           copies_per_family)
            if units is None:
                _log.warning("skipping family %s (its tool is not available)", family)
                continue
            report = partial(progress, f"{split}-{family}") if progress else None
            done.append(sd.build_shard(out, units, rng=rng,
                                       conditions_per_unit=2 if family == "real" else 1,
                                       progress=report))
    return done
