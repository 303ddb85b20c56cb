"""``analyse_av_sync``: does the main face's mouth move with the speech in the audio track?

Steps: decode the audio (none -> ``no_audio``); find speech with the audio stage's
voice-activity detector (under ``MIN_SPEECH_S`` -> ``no_speech``; music or noise is not speech);
follow the main face with the 478-point mesh (too few frames -> ``no_face``);
then, over sliding windows (``WINDOW_S`` long, every ``HOP_S``) and over the whole clip:

* training-free: cross-correlation of mouth opening with speech-band energy
  (:mod:`doppelab.detect.avsync.xcorr`) -> ``xcorr_offset_frames`` / ``xcorr_confidence``;
* the shipped sync network(s) (:mod:`doppelab.detect.avsync.net`; an ensemble's logits are
  averaged): in-sync logit of the speech frames at every lag in ``[-15, 15]``, averaged over the
  frames into one clip curve (:func:`pooled_curve`, ``POOLING``) -> ``offset_frames``,
  ``confidence`` (peak - median of that clip curve), ``in_sync_probability`` (sigmoid of the
  curve at lag 0) and ``probability_fake`` (:func:`fake_probability`): the Platt logistic of a
  lag-curve score (:mod:`doppelab.detect.avsync.decide`) stored in the weights' metadata, fitted
  on cross-validation rows of held-out train clips; weights without one use the fixed logistic
  of the offset in seconds (:func:`out_of_sync_probability`);
* the shipped audio-to-mouth ridge model (:mod:`doppelab.detect.avsync.lipreg`): its
  correlation curve over the same lags is standardised and averaged with the network's, and
  the offset, confidence, windows and ``probability_fake`` (with the model's own decision fit)
  come from that combined curve (``method="syncnet+lipreg"``). Chosen by cross-validation on
  held-out train clips (bench/results/avsync_cv.json, ``lipreg``). A calibration fitted on the
  training clips themselves was tried and dropped: the network has nearly memorised those
  people, and it gave real unseen clips 0.91-0.99.

A video longer than ``max_seconds`` (default ``DEFAULT_MAX_SECONDS``) is sampled: ``EXCERPTS``
excerpts spread evenly from its start to its end, each found by seeking and analysed as a clip of
its own; the most suspicious one decides (:func:`combine_excerpts`).

Sign convention: ``offset_frames > 0`` = audio late (see :mod:`doppelab.detect.avsync.types`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.audio import Segment
from doppelab.core.errors import UsageError
from doppelab.core.media import check_readable, probe
from doppelab.detect.avsync import xcorr
from doppelab.detect.avsync.decide import curve_scores, platt_probability
from doppelab.detect.avsync.features import (
    ClipFeatures,
    anchor_frames,
    audio_segments,
    clip_features,
    lag_logits,
    speech_frames,
    voiced_frames,
)
from doppelab.detect.avsync.lipreg import LIPREG_WEIGHTS, LipReg, combine
from doppelab.detect.avsync.net import WEIGHTS, SyncNet, load_members
from doppelab.detect.avsync.signals import speech_energy
from doppelab.detect.avsync.streams import (
    AudioTrack,
    FaceTrack,
    read_audio,
    read_audio_spans,
    read_face_track,
    read_face_tracks,
)
from doppelab.detect.avsync.types import AVSyncResult, SyncWindow

F64 = npt.NDArray[np.float64]
MAX_LAG = 15
WINDOW_S = 2.5
HOP_S = 1.0
MIN_FACE_FRAMES = 12
MIN_SPEECH_S = 0.5
# What `analyse_av_sync` reads of a video unless told otherwise: the face mesh runs on every
# frame (about 65 frames a second here) and the audio features grow with the length, so a
# two-hour file would take over half an hour and several GB; the first two minutes decide.
DEFAULT_MAX_SECONDS = 120.0
# A video longer than that is sampled instead: this many excerpts, evenly spread from its start
# to its end, share the budget (a dubbed passage in the middle of a long interview is then
# looked at; the most suspicious excerpt decides).
EXCERPTS = 4
# Broadcast lip-sync tolerance (ITU-R BT.1359): audio 45 ms early / 125 ms late is where viewers
# start to notice; 0.12 s either way is taken as the point where a clip is as likely out of
# sync as not.
TOLERANCE_S = 0.12
SLOPE_S = 0.04
# Chosen by 3-fold leave-clips-out CV on the train clips (bench/results/avsync_cv.json): over
# two training seeds the plain mean and the confidence-weighted curve tie on held-out AUC (0.70 /
# 0.735 on average) and the mean is steadier (relative offset accuracy 0.85 / 0.80 against
# 0.86 / 0.74), so the simpler one is used.
POOLING = "mean"


@functools.lru_cache(maxsize=2)
def _model(path: Path) -> tuple[tuple[SyncNet, ...], dict[str, Any]]:
    """The network(s) at ``path`` and their metadata, loaded once per process."""
    members, meta = load_members(path)
    return tuple(members), meta


@functools.lru_cache(maxsize=2)
def _lipreg(path: Path) -> LipReg:
    """The audio-to-mouth model at ``path``, loaded once per process."""
    return LipReg.load(path)


def _empty(status: str, reason: str, **kw: Any) -> AVSyncResult:
    return AVSyncResult(status=status, offset_frames=None, confidence=None,  # type: ignore[arg-type]
                        probability_fake=None, windows=(), reason=reason, **kw)


def audio_speech_seconds(
    audio: AudioTrack, fps: float = 25.0, segments: Sequence[Segment] | None = None
) -> float:
    """Seconds of speech in the audio alone: the audio stage's Silero voice-activity detector
    (or its ``segments`` when given), counted only where the band-energy detector (the frames
    the sync curves use) agrees."""
    if audio.duration <= 0:
        return 0.0
    times = np.arange(0.0, audio.duration, 1.0 / fps) + audio.start_s
    voiced = voiced_frames(audio, times, segments)
    loud = speech_frames(speech_energy(audio, times, fps))
    return float((voiced & loud).sum() / fps)


def curve_peak(scores: F64, max_lag: int = MAX_LAG) -> tuple[float, float]:
    """Offset (sub-frame) and confidence of a per-lag score curve (see :func:`xcorr.peak`)."""
    return xcorr.peak(xcorr.LagCurve(scores=scores, max_lag=max_lag, support=0))


def speech_pairs(speech: npt.NDArray[np.bool_], max_lag: int = MAX_LAG) -> npt.NDArray[np.bool_]:
    """``(T, 2 * max_lag + 1)``: True where frame ``t``'s audio at lag ``k`` (the audio at frame
    ``t + k``) is speech; False outside the clip."""
    idx = np.arange(len(speech))[:, None] + np.arange(-max_lag, max_lag + 1)[None, :]
    inside = (idx >= 0) & (idx < len(speech))
    out = np.zeros(idx.shape, bool)
    out[inside] = speech[idx[inside]]
    return out


def pooled_curve(
    logits: F64, rows: npt.NDArray[np.bool_], pooling: str = "mean",
    speech: npt.NDArray[np.bool_] | None = None,
) -> F64 | None:
    """One score per lag from the per-frame logits of ``rows``; None when fewer than
    ``MIN_FACE_FRAMES // 2`` frames (per lag) count.

    ``pooling``: ``"mean"`` (mean logit over the frames defined at every lag, the clip-level
    curve SyncNet takes its minimum distance from), ``"confidence"`` (each frame weighted by its
    own peak - median, so frames whose lips match no lag in particular count less) or
    ``"speech"`` (at each lag only the pairs whose audio is speech, by the ``(T,)`` mask
    ``speech``: silence against a closed mouth does not count). A mean of per-frame log-softmax
    over the lags is not offered: it is the mean logit minus a per-frame constant and peaks at
    the same lag.

    Raises:
        UsageError: unknown ``pooling``, or ``"speech"`` without a mask.
    """
    if pooling == "speech":
        if speech is None:
            raise UsageError("speech pooling needs the speech mask")
        use = rows[:, None] & speech_pairs(speech, logits.shape[1] // 2) & np.isfinite(logits)
        count = use.sum(axis=0)
        if count.min() < MIN_FACE_FRAMES // 2:
            return None
        return np.asarray(np.where(use, logits, 0.0).sum(axis=0) / count)
    sel = logits[rows]
    sel = sel[np.isfinite(sel).all(axis=1)]
    if len(sel) < MIN_FACE_FRAMES // 2:
        return None
    if pooling == "mean":
        return np.asarray(sel.mean(axis=0))
    if pooling == "confidence":
        weight = np.maximum(sel.max(axis=1) - np.median(sel, axis=1), 1e-6)
        return np.asarray((sel * weight[:, None]).sum(axis=0) / weight.sum())
    raise UsageError(f"unknown pooling {pooling!r} (mean, confidence, speech)")


def _with_lipreg(
    net: F64, rows: npt.NDArray[np.bool_], feats: ClipFeatures,
    lipreg: tuple[LipReg, F64] | None,
) -> tuple[F64, bool]:
    """``(curve, combined)``: the network's pooled curve ``net`` over ``rows`` combined with the
    audio-to-mouth model's curve (:func:`lipreg.combine`; ``lipreg``: the model and its
    :meth:`~LipReg.predictions` of the clip) when there is a model and its curve has enough
    frames (``combined`` True); else ``net`` itself."""
    if lipreg is None:
        return net, False
    model, predictions = lipreg
    linear = model.curve(feats, rows, MAX_LAG, predictions)
    return (net, False) if linear is None else (combine([net, linear]), True)


def out_of_sync_probability(offset_frames: float, fps: float) -> float:
    """``probability_fake`` from the measured offset: a logistic in seconds, 0.5 at
    ``TOLERANCE_S`` and 0.9 at ``TOLERANCE_S + 2.2 * SLOPE_S`` (a fixed rule, not fitted)."""
    seconds = abs(offset_frames) / max(fps, 1e-6)
    return float(1.0 / (1.0 + np.exp(-(seconds - TOLERANCE_S) / SLOPE_S)))


def fake_probability(
    curve: F64, offset: float, fps: float, decision: dict[str, Any] | None = None
) -> tuple[float, float | None]:
    """``(probability_fake, decision_score)`` of a clip curve.

    ``decision`` (the weights' ``decision`` metadata: ``score``, ``a``, ``b``) names a score of
    :func:`doppelab.detect.avsync.decide.curve_scores` and its Platt logistic, fitted on
    cross-validation rows of train clips; without it, the fixed rule on the offset
    (:func:`out_of_sync_probability`) and no score.

    Raises:
        UsageError: the decision names an unknown score.
    """
    if not decision:
        return out_of_sync_probability(offset, fps), None
    scores = curve_scores(curve, offset)
    if decision.get("score") not in scores:
        raise UsageError(f"unknown sync decision score {decision.get('score')!r}")
    score = scores[str(decision["score"])]
    return platt_probability(score, float(decision["a"]), float(decision["b"])), score


def sync_from_features(
    feats: ClipFeatures, model: SyncNet | Sequence[SyncNet],
    decision: dict[str, Any] | None = None, lipreg: LipReg | None = None,
) -> AVSyncResult:
    """The ``ok`` result of a clip with a face and speech (all analysis after decoding);
    ``model``: one network or an ensemble; ``decision``: see :func:`fake_probability`;
    ``lipreg``: the audio-to-mouth model whose curve is combined with the network's (its own
    decision fit then replaces ``decision``; a clip too short for its curve keeps the
    network's alone, ``method="syncnet"``)."""
    fps = feats.fps
    face = np.isfinite(feats.lips).all(axis=1)
    usable = anchor_frames(feats, MAX_LAG)
    v, a = xcorr.prepare(feats.mouth, feats.energy, fps)
    x_off, x_conf = xcorr.peak(xcorr.lag_curve(v, a, MAX_LAG))
    logits = lag_logits(model, feats, MAX_LAG)
    net = pooled_curve(logits, usable, POOLING, feats.speech)
    if net is None:
        return _empty("no_speech", "too few frames with both a face and speech", fps=fps,
                      face_frames=int(face.sum()), xcorr_offset_frames=x_off,
                      xcorr_confidence=x_conf)
    linear = None if lipreg is None else (lipreg, lipreg.predictions(feats, MAX_LAG))
    curve, combined = _with_lipreg(net, usable, feats, linear)
    offset, conf = curve_peak(curve)
    windows = []
    for lo, hi in xcorr.window_spans(len(feats.times), fps, WINDOW_S, HOP_S):
        rows = np.zeros(len(usable), bool)
        rows[lo:hi] = usable[lo:hi]
        wn = pooled_curve(logits, rows, POOLING, feats.speech)
        if wn is not None:
            w_off, w_conf = curve_peak(_with_lipreg(wn, rows, feats, linear)[0])
            windows.append(SyncWindow(start_s=float(feats.times[lo]),
                                      end_s=float(feats.times[hi - 1] + 1.0 / fps),
                                      offset_frames=w_off, confidence=w_conf))
    if combined and lipreg is not None:
        decision = lipreg.decision
    p_fake, score = fake_probability(curve, offset, fps, decision)
    return AVSyncResult(
        status="ok", offset_frames=offset, confidence=conf,
        probability_fake=p_fake, decision_score=score,
        windows=tuple(windows), reason=None,
        method="syncnet+lipreg" if combined else "syncnet", fps=fps,
        face_frames=int(face.sum()), speech_seconds=float(feats.speech.sum() / fps),
        xcorr_offset_frames=x_off, xcorr_confidence=x_conf,
        in_sync_probability=float(1.0 / (1.0 + np.exp(-float(net[MAX_LAG])))),
    )


def analyse_streams(
    track: FaceTrack,
    audio: AudioTrack,
    *,
    weights: Path = WEIGHTS,
    segments: Sequence[Segment] | None = None,
    lipreg: Path | None = LIPREG_WEIGHTS,
) -> AVSyncResult:
    """Sync analysis of an already decoded face track and audio track (``segments``: the
    audio's speech segments when already found, see :func:`features.voiced_frames`;
    ``lipreg``: the audio-to-mouth model's weights, None for the network alone)."""
    if int(track.found.sum()) < MIN_FACE_FRAMES:
        return _empty("no_face", f"no face followed in {MIN_FACE_FRAMES} frames or more",
                      fps=track.fps, face_frames=int(track.found.sum()))
    feats = clip_features(track, audio, segments)
    members, meta = _model(weights)
    return sync_from_features(feats, members, meta.get("decision"),
                              _lipreg(lipreg) if lipreg is not None else None)


def analyse_av_sync(
    path: Path, *, max_seconds: float | None = DEFAULT_MAX_SECONDS, weights: Path | None = None,
    lipreg: Path | None = LIPREG_WEIGHTS,
) -> AVSyncResult:
    """Audio-visual sync of the main face in the video at ``path``: all of it up to
    ``max_seconds`` long; a longer video is sampled in :data:`EXCERPTS` excerpts of
    ``max_seconds / EXCERPTS`` seconds each, evenly spread over it (found by seeking), and the
    most suspicious excerpt decides (``spans`` and ``excerpts`` of the result); None: all of
    any video, which for a long one is slow and memory-hungry.

    Returns a result with ``status`` ``"no_audio"`` (no audio track, or a still image),
    ``"no_speech"`` (less than ``MIN_SPEECH_S`` of speech), ``"no_face"`` or ``"ok"``.

    Raises:
        FileAccessError, EmptyFileError, NotMediaError, TruncatedMediaError,
        UnsupportedCodecError, DimensionsTooLargeError: unreadable media.
        UsageError: the sync network's weights are missing or damaged.
    """
    path = Path(path)
    check_readable(path)
    info = probe(path)
    if info.kind != "video":
        return _empty("no_audio", "a still image has no audio track")
    if max_seconds is not None and info.duration and info.duration > max_seconds:
        return _analyse_excerpts(path, excerpt_spans(info.duration, max_seconds),
                                 float(info.fps or 25.0), weights or WEIGHTS, lipreg)
    audio = read_audio(path, max_seconds=max_seconds)
    if audio is None or audio.duration <= 0:
        return _empty("no_audio", "the video has no audio track", fps=info.fps)
    segments = audio_segments(audio)  # the VAD runs once: for the speech check and the features
    speech = audio_speech_seconds(audio, float(info.fps or 25.0), segments)
    if speech < MIN_SPEECH_S:
        return _empty("no_speech", f"no speech found in the audio ({speech:.1f} s)",
                      fps=info.fps, speech_seconds=speech)
    track = read_face_track(path, max_seconds=max_seconds)
    return analyse_streams(track, audio, weights=weights or WEIGHTS, segments=segments,
                           lipreg=lipreg)


def excerpt_spans(duration: float, budget: float, count: int = EXCERPTS
                  ) -> list[tuple[float, float]]:
    """``count`` spans of ``budget / count`` seconds, the first at 0, the last ending at
    ``duration``, evenly spaced between (one span from 0 when ``duration <= budget``)."""
    if duration <= budget or count < 2:
        return [(0.0, min(duration, budget))]
    length = budget / count
    step = (duration - length) / (count - 1)
    return [(k * step, k * step + length) for k in range(count)]


def _analyse_excerpts(path: Path, spans: list[tuple[float, float]], fps: float, weights: Path,
                      lipreg: Path | None) -> AVSyncResult:
    """:func:`analyse_av_sync` of a long video, one excerpt per span (see there)."""
    audios = read_audio_spans(path, spans)
    if audios is None or not any(a.duration > 0 for a in audios):
        return _empty("no_audio", "the video has no audio track", fps=fps, spans=tuple(spans))
    segments = [audio_segments(a) if a.duration > 0 else [] for a in audios]
    speech = [audio_speech_seconds(a, fps, s) for a, s in zip(audios, segments, strict=True)]
    found = [k for k, s in enumerate(speech) if s >= MIN_SPEECH_S]
    tracks = dict(zip(found, read_face_tracks(path, [spans[k] for k in found]) if found else [],
                      strict=True))
    results = []
    for k, span in enumerate(spans):
        if k in tracks:
            res = analyse_streams(tracks[k], audios[k], weights=weights, segments=segments[k],
                                  lipreg=lipreg)
        else:
            res = _empty("no_speech", f"no speech found in the audio ({speech[k]:.1f} s)",
                         fps=fps, speech_seconds=speech[k])
        results.append(replace(res, spans=(span,)))
    return combine_excerpts(results, spans)


def combine_excerpts(results: Sequence[AVSyncResult], spans: Sequence[tuple[float, float]]
                     ) -> AVSyncResult:
    """One result for a video sampled in excerpts: the most suspicious ``ok`` excerpt's offset,
    confidence and probability, every ``ok`` excerpt's windows, face frames and speech summed;
    without an ``ok`` excerpt the first excerpt that found speech (else the first) explains
    why. ``spans`` and ``excerpts`` carry all of them."""
    ok = [r for r in results if r.status == "ok" and r.probability_fake is not None]
    if not ok:
        first = next((r for r in results if r.status != "no_speech"), results[0])
        return replace(first, spans=tuple(spans), excerpts=tuple(results))
    worst = max(ok, key=lambda r: float(r.probability_fake or 0.0))
    return replace(worst, windows=tuple(w for r in ok for w in r.windows),
                   face_frames=sum(r.face_frames for r in results),
                   speech_seconds=sum(r.speech_seconds for r in results),
                   spans=tuple(spans), excerpts=tuple(results))
