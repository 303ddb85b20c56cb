"""Audio evidence in ``doppelab detect``: audio-only files, the speech of videos, and fusion.

* An audio-only file (WAV, FLAC, MP3, M4A, OGG/Opus, WebM audio...) gets a result of kind
  ``audio`` whose verdict is the speech detector's; no speech -> "inconclusive" ("no speech").
* A video's audio track is scored the same way and attached as ``speech`` evidence; a video
  without audio gets ``speech = {"verdict": "inconclusive", "reason": "no audio"}``.
* Audio-visual sync evidence (when that detector is installed) is attached as ``av_sync``.

Fusion across channels (documented rule, not learned: we have no jointly labelled videos): each
channel gives a calibrated probability; the file's probability is the *largest* of the
conclusive ones (a clip is manipulated when its face, its voice or its lip sync is), so
``likely real`` needs every conclusive channel to say real. ``reason`` names the channel(s) that
drove a fake verdict.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doppelab.audio import NoAudioError, is_audio_only
from doppelab.core.errors import (
    NothingFoundError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
)
from doppelab.core.media import check_name
from doppelab.core.media_check import STILL_KINDS, sniff
from doppelab.detect.base import verdict
from doppelab.detect.predict import FAKE_EVIDENCE, DetectConfig, MediaResult
from doppelab.detect.speech import SpeechDetector, SpeechResult, analyse_speech

if TYPE_CHECKING:
    from doppelab.detect.speaker import ReferenceVoice

__all__ = ["attach_speech", "audio_result", "fuse_channels", "is_audio_file", "reference_voice"]


def is_audio_file(path: str | Path) -> bool:
    """True for a file with audio and no video (see :func:`doppelab.audio.is_audio_only`).

    A still image by its first bytes is not opened with FFmpeg at all: its image demuxer takes
    everything after the picture as one packet (a JPEG followed by 1 GB of junk cost 2.2 GB of
    memory just to learn that it holds no audio)."""
    p = Path(path)
    check_name(p)
    if p.is_dir() or sniff(p) in STILL_KINDS:
        return False
    try:
        return is_audio_only(p)
    except NotMediaError:
        return False


def reference_voice(cfg: DetectConfig) -> ReferenceVoice | None:
    """The speaker reference of ``cfg`` (None without one), to embed once and reuse per file."""
    if cfg.speaker_reference is None:
        return None
    from doppelab.detect.speaker import ReferenceVoice

    return ReferenceVoice(cfg.speaker_reference, max_seconds=cfg.max_audio_seconds or 600.0)


def _speaker(path: str | Path, sp: SpeechResult, cfg: DetectConfig,
             voice: ReferenceVoice | None) -> None:
    """The optional speaker check against ``voice`` (default: ``cfg.speaker_reference``;
    evidence only)."""
    voice = voice or reference_voice(cfg)
    if voice is None or sp.probability is None:
        return
    try:
        sp.speaker = voice.check(path)
    except NothingFoundError as exc:
        sp.speaker = {"reference": str(voice.path), "match": None, "reason": str(exc)}


def audio_result(path: str | Path, detector: SpeechDetector, cfg: DetectConfig,
                 voice: ReferenceVoice | None = None) -> MediaResult:
    """The :class:`MediaResult` of an audio-only file (verdict from the speech detector); the
    speaker check uses ``voice`` (:func:`reference_voice`) when given."""
    sp = analyse_speech(path, detector, hop=cfg.audio_hop, max_seconds=cfg.max_audio_seconds)
    _speaker(path, sp, cfg, voice)
    res = MediaResult(path=str(path), kind="audio", width=0, height=0, frames_total=0,
                      frames_sampled=0)
    res.speech = asdict(sp)
    res.detectors["speech"] = sp.probability
    res.probability = sp.probability
    res.verdict, res.reason = sp.verdict, sp.reason
    res.caveats = list(sp.caveats)
    res.seconds = sp.seconds
    return res


# A video whose frames were read but whose audio track is damaged or has no decoder: the audio
# evidence is inconclusive, the file is not refused.
_TRACK_ERRORS = (TruncatedMediaError, UnsupportedCodecError)


def _unreadable(exc: Exception) -> str:
    return ("audio track without a decoder" if isinstance(exc, UnsupportedCodecError)
            else "unreadable audio track")


def attach_speech(res: MediaResult, path: str | Path, detector: SpeechDetector,
                  cfg: DetectConfig, voice: ReferenceVoice | None = None) -> None:
    """Score the audio track of a video into ``res.speech`` (no audio -> inconclusive); the
    speaker check uses ``voice`` when given."""
    try:
        sp = analyse_speech(path, detector, hop=cfg.audio_hop, max_seconds=cfg.max_audio_seconds)
    except NoAudioError:
        res.speech = {"verdict": "inconclusive", "reason": "no audio", "probability": None}
        return
    except _TRACK_ERRORS as exc:  # the frames were read: the face verdict stands
        res.speech = {"verdict": "inconclusive", "reason": _unreadable(exc),
                      "probability": None}
        return
    _speaker(path, sp, cfg, voice)
    res.speech = asdict(sp)
    res.detectors["speech"] = sp.probability
    res.caveats += [f"speech: {c}" for c in sp.caveats]
    res.seconds += sp.seconds


def attach_av_sync(res: MediaResult, path: str | Path, cfg: DetectConfig) -> None:
    """Audio-visual sync of the main face (:func:`doppelab.detect.avsync.analyse_av_sync`) into
    ``res.av_sync``: verdict, probability that mouth and speech do not belong together, offset
    in video frames (> 0: audio late) and the per-window timeline."""
    from doppelab.detect.avsync import analyse_av_sync
    from doppelab.detect.avsync.analyse import DEFAULT_MAX_SECONDS

    t0 = time.perf_counter()
    av_seconds = cfg.max_audio_seconds or DEFAULT_MAX_SECONDS
    try:
        av = analyse_av_sync(Path(path), max_seconds=av_seconds)
    except _TRACK_ERRORS as exc:  # as for speech: evidence missing, not a failed file
        res.av_sync = {"status": "unreadable", "probability": None, "verdict": "inconclusive",
                       "reason": _unreadable(exc), "timeline": []}
        return
    ev: dict[str, Any] = {
        "status": av.status, "probability": av.probability_fake,
        "offset_frames": av.offset_frames, "confidence": av.confidence, "method": av.method,
        "fps": av.fps, "in_sync_probability": av.in_sync_probability, "max_seconds": av_seconds,
        "xcorr_offset_frames": av.xcorr_offset_frames,
        "timeline": [{"start": w.start_s, "end": w.end_s, "time": (w.start_s + w.end_s) / 2,
                      "offset_frames": w.offset_frames, "confidence": w.confidence}
                     for w in av.windows],
    }
    if av.excerpts:  # a long video, sampled: what each excerpt found
        ev["excerpts"] = [{"start": r.spans[0][0], "end": r.spans[0][1], "status": r.status,
                           "probability": r.probability_fake, "offset_frames": r.offset_frames,
                           "reason": r.reason} for r in av.excerpts]
    if av.status != "ok" or av.probability_fake is None:
        ev["verdict"], ev["reason"] = "inconclusive", av.reason or av.status.replace("_", " ")
    else:
        v, _ = verdict(av.probability_fake, 0.15)
        ev["verdict"] = v
        ev["reason"] = "mouth and speech out of sync" if v == "likely fake" else None
    res.av_sync = ev
    if av.status == "ok":
        res.detectors["av_sync"] = av.probability_fake
    res.seconds += time.perf_counter() - t0


def face_detail(res: MediaResult) -> str:
    """The face channel as named in a fused reason: ``face`` with the face detectors of its own
    fake reason, if it had one (``face (blend, frequency)``)."""
    own = res.reason or ""
    if res.verdict == "likely fake" and own.startswith(FAKE_EVIDENCE + "face"):
        return own.removeprefix(FAKE_EVIDENCE)
    return "face"


def fuse_channels(res: MediaResult, margin: float) -> None:
    """Combine the face verdict with the speech and AV-sync evidence (see module doc)."""
    channels: dict[str, float] = {}
    if res.probability is not None:
        channels["face"] = res.probability
    for name, ev in (("speech", res.speech), ("av_sync", res.av_sync)):
        if ev and ev.get("probability") is not None and ev.get("verdict") != "inconclusive":
            channels[name] = float(ev["probability"])
    if not channels or set(channels) == {"face"}:
        return
    top = max(channels, key=lambda k: channels[k])
    res.probability = channels[top]
    v, why = verdict(res.probability, margin)
    if v == "likely fake":
        named = {"face": face_detail(res)}
        fakes = [named.get(k, k) for k, p in channels.items() if p >= 0.5 + margin]
        why = FAKE_EVIDENCE + ", ".join(fakes)
    elif v == "inconclusive" and res.reason and "face" not in channels:
        why = res.reason
    res.verdict, res.reason = v, why
