"""Speaker check: does the voice in a file match a reference recording of the claimed person?

The speaker encoder is Resemblyzer's (a GE2E-trained 3-layer LSTM, 256 units, over 40-band mel
power spectra; its weights ``pretrained.pt`` ship in the ``resemblyzer`` wheel, installed
without its dependencies). We run it with our own front end, so librosa is not needed: 25 ms Hann
frames every 10 ms (centred, zero-padded), power spectrum, 40 Slaney-scale mel filters with
Slaney area normalisation (0-8 kHz), on speech only (our VAD) at -30 dBFS. An utterance's
embedding is the L2-normalised mean of the embeddings of 1.6 s partials taken 1.3 times a
second. Distance = cosine distance between the two embeddings; ``match`` when it is under the
threshold (see :data:`THRESHOLD`).

Evidence, not proof: a good voice clone is made to match its target, so "match" never means
"real"; "no match" says the voice is not the claimed person's.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.audio import SAMPLE_RATE, load_audio, speech_audio
from doppelab.audio.decode import SamplesF32
from doppelab.audio.mel import mel_filterbank
from doppelab.core.errors import NothingFoundError, UsageError

__all__ = ["THRESHOLD", "ReferenceVoice", "embed_voice", "speaker_available", "speaker_check"]

# Cosine distance below which two recordings count as one speaker, near the equal-error point of
# same- vs different-speaker pairs of our train speech (39 utterances of 1-3 s, 14 speakers:
# 23% same-speaker pairs missed, 9% different-speaker pairs accepted at 0.35). Short, acted
# utterances are hard for this encoder; longer references do better.
THRESHOLD = 0.35
_N_FFT, _HOP, _MELS, _PARTIAL = 400, 160, 40, 160


def _weights() -> Path | None:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    return path if path.is_file() else None


def speaker_available() -> bool:
    """Whether the Resemblyzer weights are installed."""
    return _weights() is not None


@functools.lru_cache(maxsize=1)
def _mel_basis() -> npt.NDArray[np.float32]:
    """Slaney mel filters (40, 201): linear below 1 kHz, log above, area-normalised."""
    return mel_filterbank(_MELS, _N_FFT, scale="slaney", norm="slaney").astype(np.float32)


def _mel(wave: SamplesF32) -> npt.NDArray[np.float32]:
    pad = np.pad(wave, (_N_FFT // 2, _N_FFT // 2))
    n = 1 + (len(pad) - _N_FFT) // _HOP
    idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(pad[idx] * np.hanning(_N_FFT + 1)[:-1], axis=1)) ** 2
    return (spec.astype(np.float32) @ _mel_basis().T).astype(np.float32)  # (T, 40)


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    import torch
    from torch import nn

    path = _weights()
    if path is None:
        raise UsageError("speaker check needs the resemblyzer wheel "
                         "(pip install --no-deps resemblyzer==0.1.4)")
    state = torch.load(path, map_location="cpu")["model_state"]
    lstm = nn.LSTM(_MELS, 256, 3, batch_first=True)
    linear = nn.Linear(256, 256)
    lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
    return lstm.eval(), linear.eval()


def embed_voice(speech: SamplesF32) -> npt.NDArray[np.float32]:
    """Speaker embedding of 16 kHz speech (silence already removed). Shape: (256,), unit norm.

    Raises:
        NothingFoundError: under 0.5 s of speech.
    """
    import torch

    if len(speech) < SAMPLE_RATE // 2:
        raise NothingFoundError("too little speech for a speaker embedding (< 0.5 s)")
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) + 1e-9
    wave = speech * np.float32(max(1.0, 10 ** (-30 / 20) / rms))  # -30 dBFS, raise only
    mel = _mel(wave)
    step = max(1, round(SAMPLE_RATE / 1.3 / _HOP))
    starts = list(range(0, max(1, len(mel) - _PARTIAL + step), step))
    parts = np.stack([np.pad(mel[s:s + _PARTIAL], ((0, max(0, s + _PARTIAL - len(mel))), (0, 0)))
                      for s in starts])
    lstm, linear = _encoder()
    with torch.inference_mode():
        _, (hidden, _) = lstm(torch.from_numpy(parts))
        emb = torch.relu(linear(hidden[-1])).numpy()
    emb = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9)
    mean = emb.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-9)).astype(np.float32)


def _file_speech(path: str | Path, max_seconds: float | None) -> SamplesF32:
    clip = load_audio(path, max_seconds=max_seconds)
    return speech_audio(clip)


@dataclass
class ReferenceVoice:
    """A reference recording of the claimed speaker, embedded once (on first use) and compared
    with any number of files: one ``detect`` run checks every file against the same voice."""

    path: str | Path
    threshold: float = THRESHOLD
    max_seconds: float | None = 600.0
    _embedding: npt.NDArray[np.float32] | None = field(default=None, init=False, repr=False)
    _error: NothingFoundError | None = field(default=None, init=False, repr=False)

    def embedding(self) -> npt.NDArray[np.float32]:
        """The reference's speaker embedding (computed once; too little speech raises again)."""
        if self._error is not None:
            raise self._error
        if self._embedding is None:
            try:
                self._embedding = embed_voice(_file_speech(self.path, self.max_seconds))
            except NothingFoundError as exc:
                self._error = exc
                raise
        return self._embedding

    def check(self, path: str | Path) -> dict[str, Any]:
        """Compare the voice of ``path`` with the reference (see :func:`speaker_check`)."""
        a = embed_voice(_file_speech(path, self.max_seconds))
        distance = float(1.0 - np.dot(a, self.embedding()))
        return {"reference": str(self.path), "distance": round(distance, 4),
                "threshold": self.threshold, "match": distance < self.threshold}


def speaker_check(path: str | Path, reference: str | Path, *, threshold: float = THRESHOLD,
                  max_seconds: float | None = 600.0) -> dict[str, Any]:
    """Compare the voice of ``path`` with ``reference``: match, cosine distance, threshold.
    To check many files against one reference, keep a :class:`ReferenceVoice` instead.

    Raises:
        UsageError: resemblyzer not installed. NothingFoundError: too little speech in either.
        The audio stage's input errors for unreadable files.
    """
    return ReferenceVoice(reference, threshold, max_seconds).check(path)
