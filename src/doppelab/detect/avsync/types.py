"""Result types of the audio-visual sync analysis.

Sign convention (everywhere in :mod:`doppelab.detect.avsync`): ``offset_frames > 0`` means the
audio is *late*: a sound is heard ``offset_frames`` video frames after the mouth movement that
made it. Delaying a clip's audio track by ``k`` frames raises the measured offset by ``k``; to
repair a clip, move its audio ``offset_frames`` frames earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AVStatus = Literal["ok", "no_face", "no_speech", "no_audio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncWindow:
    """One sliding window: its time span (seconds), offset (video frames) and sync confidence.

    ``confidence`` is how far the best lag's score stands above the median over all lags
    (0 = no lag is preferred, i.e. nothing in the audio matches the mouth).
    """

    start_s: float
    end_s: float
    offset_frames: float
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AVSyncResult:
    """Audio-visual sync of the main face of a video against its audio track.

    ``status`` is ``"ok"`` when both a face and speech were found; otherwise the numbers are
    ``None`` and ``reason`` says why in one line. ``probability_fake`` is the probability that the
    mouth and the speech do not belong together (shifted, dubbed or lip-synced).
    ``method`` names what produced ``offset_frames``/``confidence`` (``"syncnet+lipreg"``: the
    shipped network's lag curve combined with the audio-to-mouth ridge model's; ``"syncnet"``:
    the network alone; ``"xcorr"`` for the training-free mouth-opening / envelope correlation);
    ``xcorr_offset_frames`` and ``xcorr_confidence`` always carry the training-free estimate.
    ``in_sync_probability`` is the network's raw score at lag 0 (sigmoid of the mean logit): it
    is not calibrated and runs low on people the network never saw, even in sync, so verdicts
    should use ``probability_fake`` (see the model card). ``decision_score`` is the lag-curve
    score ``probability_fake`` was calibrated from (:mod:`doppelab.detect.avsync.decide`; None
    under the fixed offset rule). ``spans`` are the time spans analysed (seconds on the video's
    timeline) when a long video was sampled in excerpts, and ``excerpts`` each one's own
    result (empty when the video was read from its start).
    """

    status: AVStatus
    offset_frames: float | None
    confidence: float | None
    probability_fake: float | None
    windows: tuple[SyncWindow, ...]
    reason: str | None
    method: str | None = None
    fps: float | None = None
    face_frames: int = 0
    speech_seconds: float = 0.0
    xcorr_offset_frames: float | None = None
    xcorr_confidence: float | None = None
    in_sync_probability: float | None = None
    decision_score: float | None = None
    spans: tuple[tuple[float, float], ...] = ()
    excerpts: tuple[AVSyncResult, ...] = ()
