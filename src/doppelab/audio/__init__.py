"""Audio stage: decode any audio track to 16 kHz mono, loudness-normalise, find speech.

Example:
    >>> from doppelab.audio import load_audio, speech_segments     # doctest: +SKIP
    >>> clip = load_audio("call.mp3")                              # doctest: +SKIP
    >>> [(s.start, s.end) for s in speech_segments(clip)]          # doctest: +SKIP
"""

from doppelab.audio.decode import (
    SAMPLE_RATE,
    AudioClip,
    AudioSource,
    NoAudioError,
    is_audio_only,
    iter_audio_blocks,
    load_audio,
    probe_audio,
)
from doppelab.audio.loudness import TARGET_DBFS, gated_level_db, normalize_loudness
from doppelab.audio.vad import (
    FRAME_SECONDS,
    Segment,
    join_segments,
    shift,
    speech_audio,
    speech_probabilities,
    speech_seconds,
    speech_segments,
)

__all__ = [
    "FRAME_SECONDS",
    "SAMPLE_RATE",
    "TARGET_DBFS",
    "AudioClip",
    "AudioSource",
    "NoAudioError",
    "Segment",
    "gated_level_db",
    "is_audio_only",
    "iter_audio_blocks",
    "join_segments",
    "load_audio",
    "normalize_loudness",
    "probe_audio",
    "shift",
    "speech_audio",
    "speech_probabilities",
    "speech_seconds",
    "speech_segments",
]
