"""The speech detector's recipe, end to end (``doppelab detect-train --audio``).

Stages, each resuming from its artefact under ``work``:

1. ``vocoder.pt`` and ``vocoder-istft.pt``: the two small neural vocoders
   (:data:`~doppelab.detect.speech_vocoder.NEURAL_FAMILIES`: MelGAN-like and iSTFT-head) trained
   on real *train* speech for ``vocoder_minutes`` each;
2. ``shards/<split>-<family>.npz``: windows of real speech and every fake family under codec round
   trips (:mod:`doppelab.detect.speech_recipe`), and (train only) of the ``extra_families``
   (:mod:`doppelab.detect.speech_extra`: more generators to train on; never measured, and left
   out together with the measured family they are a variant of);
3. ``features-v3-<split>.npz``: window features (:func:`~doppelab.detect.speech_phase.
   window_features`: magnitude + phase-sensitive statistics) of every window, and
   (``prosody``) ``prosody-p2-<split>.npz``: pitch / micro-prosody statistics
   (:mod:`doppelab.detect.speech_prosody`) as further columns; train windows twice
   (as they are and low-passed at a random 3.4-7.8 kHz cut-off, so bandwidth is no cue), plus a
   phase-jittered copy of every real train window labelled fake (the ``phasejitter``
   pseudo-family, never left out and never measured); then all of those again through a random
   channel (equaliser, non-linearity, mu-law, coloured noise; both classes); plus
   (``codec_pairs``) an MP3 32 kb/s and an 8 kHz mu-law twin of every original train window
   (:mod:`doppelab.detect.speech_pairs`; chosen on held-out train speakers by
   ``bench/speech_invariance.py``);
4. leave-one-family-out: for each fake family a model trained on train windows of real + every
   other family (and every extra family that is not a variant of it), measured (EER, AUC) on
   dev real vs dev windows of the family left out;
5. the shipped model: trained on 80% of the train recordings (grouped, so a recording and its
   vocoded twins stay on one side), Platt-calibrated on the other 20%, measured on dev;
   with ``train.density_weight > 0`` every model (also the leave-one-out ones) is the MLP fused
   with a Gaussian density of the real train windows (:class:`~doppelab.detect.speech_model.
   FusedSpeech`);
   written as ``model/speech.onnx`` + ``model/speech.json`` (calibration, recipe, metrics).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.storage import atomic_write_bytes, atomic_write_text
from doppelab.detect.base import sigmoid
from doppelab.detect.frequency import fit_logistic
from doppelab.detect.metrics import eer, roc_auc
from doppelab.detect.speech_data import (
    CONDITIONS,
    FAMILIES,
    channel_copies,
    load_shards,
    lowpass_copies,
    shards_tag,
)
from doppelab.detect.speech_extra import cache_suffix, left_out_with, train_families
from doppelab.detect.speech_features import N_FEATURES
from doppelab.detect.speech_model import (
    Pairs,
    SpeechTrainConfig,
    export_onnx,
    fit_fused,
    predict_logits,
)
from doppelab.detect.speech_phase import (
    FEATURES_VERSION,
    N_PHASE,
)
from doppelab.detect.speech_prosody import N_PROSODY

__all__ = ["PSEUDO_FAMILY", "SpeechRecipe", "features", "run_speech_recipe", "subset_pairs",
           "with_codec_pairs"]

Log = Callable[[dict[str, Any]], None]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SpeechRecipe:
    """Settings of the whole recipe (recorded in ``speech.json``)."""

    vocoder_minutes: float = 25.0
    tts_per_engine: int = 100
    copies_per_family: int = 200
    seed: int = 0
    lofo: bool = True
    train: SpeechTrainConfig = field(
        default_factory=lambda: SpeechTrainConfig(density_weight=0.5))
    lofo_steps: int = 2000
    pseudo_fakes: bool = True  # phase-jittered copies of real train windows, labelled fake
    codec_pairs: bool = True  # MP3 32k / 8 kHz twins of each original train window (both classes)
    # of speech_extra: trained on, left out with the family they are a variant of, never measured
    extra_families: tuple[str, ...] = ("glottal", "worldflat", "glwide", "sinusoidal")
    prosody: bool = True  # pitch / micro-prosody statistics (speech_prosody) as extra columns
    rooms: bool = True  # a quarter of the channel copies through a room (speech_data.room)


PSEUDO_FAMILY = "phasejitter"


def _train_windows(work: Path, pseudo: bool, extra: tuple[str, ...] = (), rooms: bool = False
                   ) -> tuple[F32, npt.NDArray[np.int64], list[str], list[str]]:
    """Train windows, each also as a random low-pass copy (bandwidth nuisance), plus (``pseudo``)
    a :func:`~doppelab.detect.speech_fakes.phase_jitter` copy of every real window, labelled
    fake, family :data:`PSEUDO_FAMILY`; then every one of those also through a random channel
    (:func:`~doppelab.detect.speech_data.channel_copies`, both classes; ``rooms``: a quarter
    of those first through a synthetic room)."""
    from doppelab.detect.speech_fakes import phase_jitter

    windows, y, fam, group = load_shards(work / "shards", "train", train_families(extra))
    windows = np.concatenate([windows, lowpass_copies(windows, np.random.default_rng(0))])
    y, fam, group = np.concatenate([y, y]), fam + fam, group + group
    if pseudo:
        real = np.flatnonzero(y == 0)
        rng = np.random.default_rng(1)
        jitter = np.stack([phase_jitter(windows[i], rng) for i in real])
        windows = np.concatenate([windows, jitter])
        y = np.concatenate([y, np.ones(len(real), np.int64)])
        fam = fam + [PSEUDO_FAMILY] * len(real)
        group = group + [group[i] for i in real]
    windows = np.concatenate([windows, channel_copies(windows, np.random.default_rng(2), rooms)])
    return windows, np.concatenate([y, y]), fam + fam, group + group


def features(work: Path, split: str, pseudo: bool = True, extra: tuple[str, ...] = (),
             prosody: bool = False, rooms: bool = False
             ) -> tuple[F32, npt.NDArray[np.int64], list[str], list[str]]:
    """Window features of every window of ``split``; train windows as :func:`_train_windows`
    makes them (with the ``extra`` families' shards). With ``prosody`` the pitch and
    micro-prosody statistics (:mod:`doppelab.detect.speech_prosody`) follow as the last
    columns. ``rooms``: see :func:`_train_windows`. Cached as
    ``features-<version>[-nopseudo][-<extra>...][-rooms]-s<tag>-<split>.npz`` and
    ``prosody-<version>[...]-<split>.npz`` (each made once, from one pass over the windows;
    ``tag`` names the set of shards present, so a new family makes new caches)."""
    from doppelab.detect.speech_cache import cached_features
    from doppelab.detect.speech_prosody import PROSODY_VERSION

    suffix = "" if pseudo or split != "train" else "-nopseudo"
    if split == "train":
        suffix += cache_suffix(extra) + ("-rooms" if rooms else "")
    suffix += shards_tag(work / "shards", split, train_families(extra))

    def make() -> tuple[F32, dict[str, npt.NDArray]]:
        if split == "train":
            windows, y, fam, group = _train_windows(work, pseudo, extra, rooms)
        else:
            windows, y, fam, group = load_shards(work / "shards", split)
        return windows, {"y": y, "family": np.array(fam), "group": np.array(group)}

    x, z = cached_features(work / f"features-{FEATURES_VERSION}{suffix}-{split}.npz",
                           work / f"prosody-{PROSODY_VERSION}{suffix}-{split}.npz", prosody, make)
    y, fam, group = z["y"], [str(v) for v in z["family"]], [str(v) for v in z["group"]]
    return x, y, fam, group


def _metrics(y: npt.NDArray[np.int64], s: F32) -> dict[str, float]:
    return {"eer": float(eer(y, s)), "auc": float(roc_auc(y, s)), "n_real": int((y == 0).sum()),
            "n_fake": int((y == 1).sum())}


def _held_out(groups: list[str], fraction: float = 0.2) -> npt.NDArray[np.bool_]:
    """Stable group-wise split: True for the calibration part."""
    def h(g: str) -> float:
        return int(hashlib.sha1(g.encode(), usedforsecurity=False).hexdigest()[:8], 16) / 2**32
    return np.array([h(g) < fraction for g in groups])


def _lofo(tr: tuple, dv: tuple, recipe: SpeechRecipe, log: Log) -> dict[str, Any]:
    x, y, fam, _ = tr
    xd, yd, famd, _ = dv
    fam_a, famd_a = np.array(fam), np.array(famd)
    out: dict[str, Any] = {}
    cfg = replace(recipe.train, steps=recipe.lofo_steps)
    for left in [f for f in FAMILIES if f != "real" and f in set(famd)]:
        keep = ~np.isin(fam_a, left_out_with(left))
        t0 = time.perf_counter()
        model = fit_fused(x[keep], y[keep], cfg)
        sel = (famd_a == "real") | (famd_a == left)
        out[left] = {**_metrics(yd[sel], predict_logits(model, xd[sel])),
                     "train_seconds": round(time.perf_counter() - t0, 1)}
        log({"stage": "lofo", "left_out": left, **out[left]})
    return out


def with_codec_pairs(tr: tuple, twins: tuple) -> tuple[tuple, Pairs]:
    """``tr`` (x, y, family, group) with the codec twins (x, origin, y) of
    :func:`~doppelab.detect.speech_pairs.codec_pair_features` appended (each twin takes its
    original's family and group); returns it and the (original, twin) row pairs."""
    x, y, fam, group = tr
    xt, origin, yt = twins
    n = len(y)
    out = (np.concatenate([x, xt]), np.concatenate([y, yt]), fam + [fam[i] for i in origin],
           group + [group[i] for i in origin])
    return out, (origin.astype(np.int64), n + np.arange(len(origin), dtype=np.int64))


def subset_pairs(pairs: Pairs | None, keep: npt.NDArray[np.bool_]) -> Pairs | None:
    """The pairs whose two rows are both kept, renumbered to the rows of ``x[keep]``."""
    if pairs is None:
        return None
    new = np.cumsum(keep) - 1
    ok = keep[pairs[0]] & keep[pairs[1]]
    return new[pairs[0][ok]], new[pairs[1][ok]]


def _final(tr: tuple, dv: tuple, recipe: SpeechRecipe, log: Log, pairs: Pairs | None = None
           ) -> tuple[Any, dict[str, float], dict[str, Any], list[dict[str, float]]]:
    x, y, _, groups = tr
    xd, yd, famd, _ = dv
    cal = _held_out(groups)
    history: list[dict[str, float]] = []
    model = fit_fused(x[~cal], y[~cal], recipe.train, history, subset_pairs(pairs, ~cal))
    clf = fit_logistic(predict_logits(model, x[cal])[:, None].astype(np.float64), y[cal],
                       l2=1e-3)
    a = float(clf.w[0] / clf.std[0])
    b = float(clf.b - clf.mean[0] / clf.std[0] * clf.w[0])
    sd = predict_logits(model, xd)
    famd_a = np.array(famd)
    dev: dict[str, Any] = {"all": _metrics(yd, sd)}
    for f in FAMILIES[1:]:
        sel = (famd_a == "real") | (famd_a == f)
        if (famd_a == f).any():
            dev[f] = _metrics(yd[sel], sd[sel])
    p = sigmoid(a * sd + b)
    dev["all"]["accuracy_at_0.5"] = float(((p >= 0.5) == (yd == 1)).mean())
    log({"stage": "final", **dev["all"]})
    return model, {"a": a, "b": b}, dev, history


def _every(log: Log, name: str, n: int, step: int = 100) -> None:
    if n % step == 0:
        log({"stage": name, "units": n})


def run_speech_recipe(data_dir: Path, work: Path, recipe: SpeechRecipe, log: Log
                      ) -> dict[str, Any]:
    """Run every stage (see module doc); returns the metrics written into ``speech.json``."""
    import torch

    from doppelab.detect.speech_recipe import build_speech_data
    from doppelab.detect.speech_vocoder import NEURAL_FAMILIES, train_vocoder

    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    vocoders = {fam: work / name for fam, (name, _) in NEURAL_FAMILIES.items()}
    untrained = [fam for fam in NEURAL_FAMILIES if not vocoders[fam].with_suffix(".done").exists()]
    if untrained:
        from doppelab.audio import load_audio
        from doppelab.detect.speech_data import real_items

        waves = [load_audio(i.path).samples for i in real_items(data_dir, "train")]
        for fam in untrained:
            steps = train_vocoder(waves, vocoders[fam], minutes=recipe.vocoder_minutes,
                                  cfg=NEURAL_FAMILIES[fam][1])
            atomic_write_text(vocoders[fam].with_suffix(".done"), f"{steps}\n")
            log({"stage": "vocoder", "family": fam, "steps": steps})
    build_speech_data(data_dir, work / "shards", vocoders=vocoders, seed=recipe.seed,
                      families=train_families(recipe.extra_families),
                      tts_per_engine=recipe.tts_per_engine,
                      copies_per_family=recipe.copies_per_family,
                      progress=lambda name, n: _every(log, name, n))
    tr = features(work, "train", recipe.pseudo_fakes, recipe.extra_families, recipe.prosody,
                  recipe.rooms)
    dv = features(work, "dev", prosody=recipe.prosody)
    metrics: dict[str, Any] = {"train_windows": len(tr[1]), "dev_windows": len(dv[1])}
    pairs = None
    if recipe.codec_pairs:
        from doppelab.detect.speech_pairs import codec_pair_features

        twins = codec_pair_features(work, extra=recipe.extra_families, prosody=recipe.prosody)
        tr, pairs = with_codec_pairs(tr, twins)
        metrics["train_windows"] = len(tr[1])
    if recipe.lofo:
        metrics["leave_one_family_out"] = _lofo(tr, dv, recipe, log)
    model, calibration, dev, history = _final(tr, dv, recipe, log, pairs)
    metrics["dev"] = dev
    out = work / "model"
    atomic_write_bytes(out / "speech.onnx", export_onnx(model, tr[0].shape[1]))
    card = {"calibration": calibration, "metrics": metrics, "history": history,
            "recipe": {"vocoder_minutes": recipe.vocoder_minutes, "seed": recipe.seed,
                       "tts_per_engine": recipe.tts_per_engine, "train": recipe.train.to_dict(),
                       "conditions": [c.name for c in CONDITIONS], "families": list(FAMILIES),
                       "features": f"spectral_stats{N_FEATURES}+phase_stats{N_PHASE}"
                       + (f"+prosody_stats{N_PROSODY}" if recipe.prosody else ""),
                       "pseudo_fakes": [PSEUDO_FAMILY] if recipe.pseudo_fakes else [],
                       "codec_pairs": recipe.codec_pairs, "rooms": recipe.rooms,
                       "extra_families": list(recipe.extra_families)}}
    atomic_write_text(out / "speech.json", json.dumps(card, indent=2) + "\n")
    return card
