"""Audio frames FFmpeg cannot downmix: layouts known only by their channel count.

A WAV with 32 channels (or any count without a standard layout and without a channel mask) is
decoded with an *unordered* layout ("32 channels"); FFmpeg's resampler has no downmix matrix for
it and refuses the frame (``EINVAL``). :func:`mean_mono` downmixes such a frame by the mean of
its channels, which the decoder (:mod:`doppelab.audio.decode`) and the video writer's audio
re-encoding (:mod:`doppelab.core.media_write`) both use.

Convention: samples at full scale 1.0 as float32 (``flt``), the frame's rate and timestamps kept.
"""

from __future__ import annotations

import numpy as np
from av.audio.frame import AudioFrame

__all__ = ["is_unordered", "mean_mono"]

# Integer sample formats -> (scale to full scale 1.0, offset; u8 is unsigned).
_INT_SCALE: dict[str, tuple[float, float]] = {
    "u8": (2.0 ** -7, 128.0), "s16": (2.0 ** -15, 0.0), "s32": (2.0 ** -31, 0.0),
    "s64": (2.0 ** -63, 0.0),
}


def is_unordered(layout_name: str, channels: int) -> bool:
    """True for a multichannel layout FFmpeg knows only by its count (e.g. "32 channels")."""
    return channels > 1 and layout_name.endswith(" channels")


def mean_mono(frame: AudioFrame) -> AudioFrame:
    """``frame`` downmixed to mono by the mean of its channels.

    Shape: PyAV gives planar formats as ``(C, N)`` and packed ones as ``(1, N * C)``; the result
    is a ``(1, N)`` float32 ``flt`` mono frame with the same sample rate, pts and time base.
    """
    channels = frame.layout.nb_channels
    raw = frame.to_ndarray()
    scale, offset = _INT_SCALE.get(frame.format.name.rstrip("p"), (1.0, 0.0))
    wide = raw.reshape(channels, -1) if frame.format.is_planar else raw.reshape(-1, channels).T
    mono = ((wide.astype(np.float64) - offset) * scale).mean(axis=0).astype(np.float32)
    out = AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, :]), format="flt",
                                  layout="mono")
    out.sample_rate, out.pts = frame.sample_rate, frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out
