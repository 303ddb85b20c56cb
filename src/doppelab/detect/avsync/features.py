"""Model inputs of one clip and the network's scores at every lag.

Lips: :func:`signals.lip_shape` minus the clip's median shape (identity and resting pose drop
out), divided by ``LIP_SCALE``. Audio: :func:`signals.log_mel` minus each band's clip mean
(channel and microphone drop out). Speech frames: an energy detector on the 300-3400 Hz band
(within ``SPEECH_RANGE`` natural-log units of the clip's loud frames and above an absolute floor
of about -55 dBFS) inside the segments of the audio stage's voice-activity detector (Silero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from doppelab.audio import AudioClip, Segment, speech_segments
from doppelab.core.errors import UsageError
from doppelab.detect.avsync import signals as S
from doppelab.detect.avsync.net import MEL_WIDTH, VIS_FRAMES, SyncNet
from doppelab.detect.avsync.streams import AudioTrack, FaceTrack

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
LIP_SCALE = 0.05
SPEECH_RANGE = 4.6  # e^4.6 ~ 100x below the loud frames' band power (20 dB)
ABS_FLOOR = -4.0  # log band power of a frame at about -55 dBFS (sum over the band's bins)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClipFeatures:
    """Everything the analysis needs about one clip, on the video frame clock.

    Shape: ``lips (T, LIP_DIM)`` (NaN rows without a face), ``mouth (T,)``, ``energy (T,)``,
    ``speech (T,)`` bool, ``mel (M, N_MELS)`` at 100 Hz with row 0 at ``mel_start`` seconds.
    """

    times: F64
    fps: float
    lips: F32
    mouth: F64
    energy: F64
    speech: B
    mel: F32
    mel_start: float


def speech_frames(energy: F64) -> B:
    """Frames whose band energy is near the clip's loud frames and above an absolute floor."""
    if not len(energy):
        return np.zeros(0, bool)
    loud = float(np.percentile(energy, 95))
    return np.asarray((energy > loud - SPEECH_RANGE) & (energy > ABS_FLOOR))


def audio_segments(audio: AudioTrack) -> list[Segment]:
    """Speech segments of ``audio`` by the audio stage's Silero VAD (seconds from its start)."""
    if audio.duration <= 0:
        return []
    return speech_segments(
        AudioClip(samples=np.ascontiguousarray(audio.samples), sample_rate=audio.sample_rate))


def voiced_frames(
    audio: AudioTrack, times: F64, segments: Sequence[Segment] | None = None
) -> B:
    """Frames at ``times`` (video timeline) inside a speech segment of ``audio``.

    ``segments`` are :func:`audio_segments` of ``audio`` when the caller already has them."""
    voiced = np.zeros(len(times), bool)
    for seg in audio_segments(audio) if segments is None else segments:
        voiced |= (times >= seg.start + audio.start_s) & (times < seg.end + audio.start_s)
    return voiced


def clip_features(
    track: FaceTrack, audio: AudioTrack, segments: Sequence[Segment] | None = None
) -> ClipFeatures:
    """Lips, mouth opening, speech energy, speech mask and log-mel of one clip.

    The speech mask is the voice-activity detector's speech where the band energy also says
    speech (so music, noise and quiet breaths do not count). ``segments``: see
    :func:`voiced_frames`."""
    lips = S.lip_shape(track)
    found = track.found
    if found.any():
        lips = (lips - np.median(lips[found], axis=0)) / LIP_SCALE
    mel = S.log_mel(audio)
    if len(mel):
        mel = mel - mel.mean(axis=0, keepdims=True)
    energy = S.speech_energy(audio, track.times, track.fps)
    return ClipFeatures(
        times=track.times, fps=track.fps, lips=lips.astype(np.float32),
        mouth=S.mouth_opening(track), energy=energy,
        speech=speech_frames(energy) & voiced_frames(audio, track.times, segments),
        mel=mel.astype(np.float32), mel_start=audio.start_s,
    )


def anchor_frames(feats: ClipFeatures, max_lag: int) -> B:
    """Frames whose lips are compared: a face, and speech within ``max_lag`` frames either side.

    Selecting on speech at the frame's own time would follow the audio: with the audio moved by
    ``k`` frames the chosen lips would be those that are ``k`` frames away from the speech, often
    a closed mouth. Widening the speech mask by the lag range keeps the same lips for any offset
    inside it.
    """
    face = np.isfinite(feats.lips).all(axis=1)
    near = S.centred_sum(feats.speech, 2 * max_lag + 1) > 0
    return np.asarray(face & near)


def net_lips(lips: F32, lip_norm: str = "scale") -> F32:
    """Lip input of the network: ``lips`` as they are (``"scale"``), or divided by the clip's own
    root-mean-square lip motion (``"rms"``), so people who barely open their mouth and people who
    articulate widely give inputs of the same size.

    Raises:
        UsageError: unknown ``lip_norm``.
    """
    if lip_norm == "scale":
        return lips
    if lip_norm != "rms":
        raise UsageError(f"unknown lip normalisation {lip_norm!r} (scale, rms)")
    found = np.isfinite(lips).all(axis=1)
    rms = float(np.sqrt(np.mean(lips[found] ** 2))) if found.any() else 1.0
    return (lips / max(rms, 1e-3)).astype(np.float32)


def visual_windows(lips: F32) -> tuple[F32, B]:
    """``(T, VIS_FRAMES, LIP_DIM)`` lip windows centred on each frame and their validity."""
    t = len(lips)
    half = VIS_FRAMES // 2
    idx = np.clip(np.arange(t)[:, None] + np.arange(-half, half + 1)[None, :], 0, max(t - 1, 0))
    win = lips[idx]
    inside = (np.arange(t) >= half) & (np.arange(t) < t - half)
    ok = inside & np.isfinite(win).all(axis=(1, 2))
    return np.nan_to_num(win).astype(np.float32), ok


def audio_index(
    feats: ClipFeatures, lags: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], B]:
    """First mel rows ``(T, L)`` of the windows for frame ``t`` at lag ``lags[l]`` and validity."""
    centre = (feats.times[:, None] + lags[None, :] / feats.fps - feats.mel_start) * S.MEL_RATE
    start = np.round(centre).astype(np.int64) - MEL_WIDTH // 2
    ok = (start >= 0) & (start + MEL_WIDTH <= len(feats.mel))
    return start, ok


def lag_logits(
    model: SyncNet | Sequence[SyncNet], feats: ClipFeatures, max_lag: int, batch: int = 512
) -> F64:
    """``(T, 2 * max_lag + 1)`` in-sync logits of frame ``t``'s lips with audio at each lag;
    NaN where the lip window or the audio window is incomplete. Several networks (an ensemble)
    give the mean of their logits.

    Frame ``t`` at lag ``k`` and frame ``t + 1`` at lag ``k - 1`` read the same audio window, so
    each distinct window is embedded once (about ``T + 2 * max_lag`` windows, not ``T * 31``)."""
    if not isinstance(model, SyncNet):
        return np.asarray(np.mean([lag_logits(m, feats, max_lag, batch) for m in model], axis=0))
    lags = np.arange(-max_lag, max_lag + 1)
    vis, vok = visual_windows(net_lips(feats.lips, model.cfg.lip_norm))
    start, aok = audio_index(feats, lags)
    out = np.full(start.shape, np.nan)
    rows = np.flatnonzero(vok)
    if not len(rows) or not len(feats.mel):
        return out
    mel = torch.from_numpy(feats.mel)
    steps = torch.arange(MEL_WIDTH)
    starts = np.clip(start[rows], 0, max(len(feats.mel) - MEL_WIDTH, 0))
    uniq, inverse = np.unique(starts, return_inverse=True)
    with torch.inference_mode():
        v = torch.cat([model.embed_visual(torch.from_numpy(vis[rows[lo : lo + batch]]))
                       for lo in range(0, len(rows), batch)])
        st = torch.from_numpy(uniq)
        a = torch.cat([
            model.embed_audio(mel[(st[lo : lo + batch, None] + steps).clamp(max=len(mel) - 1)])
            for lo in range(0, len(st), batch)])
        a_rows = a[torch.from_numpy(inverse.reshape(starts.shape))]
        out[rows] = model.logit(v[:, None, :], a_rows).double().numpy()
    out[~aok] = np.nan
    return out
