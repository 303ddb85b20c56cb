"""Synthetic speech for training and measuring the speech detector, made here without weights.

Copy-synthesis (the real utterance analysed and re-synthesised, so content, speaker and language
stay those of the real recording and only the generator's traces differ):

* ``griffinlim``: STFT magnitude, phase rebuilt by Griffin-Lim iterations;
* ``world``: the WORLD vocoder (pyworld: DIO + StoneMask F0, CheapTrick envelope, D4C
  aperiodicity) with a small random F0 scale;
* ``lpc``: an LPC-16 vocoder with a pulse-train / noise excitation from the WORLD F0 track.

Text-to-speech through Debian's own engines (``flite``, ``espeak``, ``festival``), speaking random
sentences in English and German (espeak also reads them with its Urdu, Swedish, Hindi and other
voices). The neural vocoder family lives in :mod:`doppelab.detect.speech_vocoder`.

Convention: every function takes and returns ``(N,)`` float32 mono at 16 kHz.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import istft, lfilter, stft

from doppelab.audio import SAMPLE_RATE, load_audio
from doppelab.audio.decode import SamplesF32
from doppelab.core.errors import UsageError

__all__ = ["COPY_SYNTHESIS", "TTS_ENGINES", "griffin_lim", "lpc_vocoder", "phase_jitter",
           "random_sentence", "tts", "tts_available", "world_vocoder"]

_N_FFT = 512
_HOP = 128


def griffin_lim(x: SamplesF32, rng: np.random.Generator, iters: int = 16) -> SamplesF32:
    """Re-synthesise from the STFT magnitude with Griffin-Lim (random initial phase)."""
    _, _, spec = stft(x, nperseg=_N_FFT, noverlap=_N_FFT - _HOP)
    mag = np.abs(spec)
    phase = np.exp(2j * np.pi * rng.random(mag.shape))
    y = x
    for _ in range(iters):
        _, y = istft(mag * phase, nperseg=_N_FFT, noverlap=_N_FFT - _HOP)
        _, _, est = stft(y, nperseg=_N_FFT, noverlap=_N_FFT - _HOP)
        phase = np.exp(1j * np.angle(est))
    _, y = istft(mag * phase, nperseg=_N_FFT, noverlap=_N_FFT - _HOP)
    return np.asarray(y[: len(x)], np.float32)


def _world_analysis(x: SamplesF32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pyworld

    xd = np.ascontiguousarray(x, np.float64)
    f0, t = pyworld.dio(xd, SAMPLE_RATE, frame_period=5.0)
    f0 = pyworld.stonemask(xd, f0, t, SAMPLE_RATE)
    sp = pyworld.cheaptrick(xd, f0, t, SAMPLE_RATE)
    ap = pyworld.d4c(xd, f0, t, SAMPLE_RATE)
    return f0, t, sp, ap


def world_vocoder(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """WORLD analysis/synthesis with the F0 scaled by a random factor in [0.92, 1.08]."""
    import pyworld

    f0, _, sp, ap = _world_analysis(x)
    y = pyworld.synthesize(f0 * rng.uniform(0.92, 1.08), sp, ap, SAMPLE_RATE, frame_period=5.0)
    return np.asarray(y[: len(x)], np.float32)


def _lpc(frame: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """All-pole coefficients ``a`` (a[0] = 1) and the prediction-error gain of one frame."""
    r = np.correlate(frame, frame, "full")[len(frame) - 1:len(frame) + order]
    if r[0] <= 1e-9:
        return np.r_[1.0, np.zeros(order)], 0.0
    r = r.copy()
    r[0] *= 1.0 + 1e-4  # white-noise correction keeps the system well conditioned
    a = solve_toeplitz(r[:order], -r[1:order + 1])
    err = float(r[0] + np.dot(a, r[1:order + 1]))
    return np.r_[1.0, a], max(err, 0.0)


def lpc_vocoder(x: SamplesF32, rng: np.random.Generator, order: int = 16) -> SamplesF32:
    """LPC vocoder: per 20 ms frame an all-pole filter driven by pulses at the F0 or noise."""
    import pyworld

    xd = np.ascontiguousarray(x, np.float64)
    f0, _ = pyworld.dio(xd, SAMPLE_RATE, frame_period=5.0)
    frame, hop = 320, 160
    win = np.hanning(frame)
    out = np.zeros(len(x) + frame)
    pre = lfilter([1, -0.9], [1], xd)
    phase = rng.random()
    for start in range(0, max(1, len(x) - frame + 1), hop):
        seg = pre[start:start + frame]
        if len(seg) < frame:
            break
        a, err = _lpc(seg * win, order)
        pitch = float(np.median(f0[int(start / 80):int((start + frame) / 80) + 1] + 0))
        if pitch > 40:
            steps = phase + np.arange(frame) * pitch / SAMPLE_RATE
            exc = (np.diff(np.floor(steps), prepend=np.floor(phase)) > 0) * np.sqrt(
                SAMPLE_RATE / pitch)
            phase = steps[-1] % 1.0 - (hop * pitch / SAMPLE_RATE) % 1.0
        else:
            exc = rng.standard_normal(frame)
        y = lfilter([np.sqrt(err / frame)], a, exc)
        out[start:start + frame] += y * win
    y = lfilter([1], [1, -0.9], out[: len(x)])
    return np.asarray(y, np.float32)


COPY_SYNTHESIS = {"griffinlim": griffin_lim, "world": world_vocoder, "lpc": lpc_vocoder}


def phase_jitter(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """A pseudo-fake: real speech with its STFT phase corrupted, magnitude kept (training only).

    STFT of 256, 512 or 1024 points (hop a quarter); every bin's phase gets Gaussian noise of a
    random 0.4-1.6 rad scale. The generic trace of phase reconstruction, not any one generator's:
    it teaches the detector that too little phase coherence is as synthetic as too much (see
    :mod:`doppelab.detect.speech_phase`). (Random phase above a cut-off only was tried too and
    dropped: that is what codecs' noise filling does to real speech, and a real LibriSpeech
    recording turned "likely fake".) Output has the input's length and RMS.
    """
    n = int(rng.choice([256, 512, 1024]))
    hop = n // 4
    _, _, spec = stft(x, nperseg=n, noverlap=n - hop)
    noise = rng.uniform(0.4, 1.6) * rng.standard_normal(spec.shape)
    _, y = istft(spec * np.exp(1j * noise), nperseg=n, noverlap=n - hop)
    y = np.pad(y[: len(x)], (0, max(0, len(x) - len(y))))
    gain = np.sqrt(float(np.mean(np.square(x))) / (float(np.mean(np.square(y))) + 1e-12))
    return np.asarray(y * gain, np.float32)


# ---------------------------------------------------------------------------------------------
# Text to speech (Debian engines)

_WORDS = {
    "en": ("the river|a teacher|my neighbour|the old train|our committee|a small garden|the "
           "market|this letter|the weather|a new report|the doctor|my brother|the budget|"
           "the museum|a quiet street|the payment|our company|the election",
           "opened|described|forgot|carried|approved|painted|cancelled|explained|visited|"
           "signed|repaired|moved|called|finished|ignored|bought",
           "yesterday|on Monday|after lunch|in the morning|before the meeting|last winter|"
           "at nine o'clock|without a word|for the second time|very carefully|next week"),
    "de": ("der Lehrer|die Stadt|mein Nachbar|das Fenster|die Regierung|ein kleiner Hund|"
           "der Zug|die Zeitung|unsere Firma|das Museum|die Rechnung|der Arzt",
           "hat geschrieben|hat geöffnet|hat vergessen|hat bezahlt|hat erklärt|hat besucht|"
           "hat gekauft|hat angerufen|hat repariert|hat gemalt",
           "gestern|am Montag|nach dem Essen|heute Morgen|im Winter|um neun Uhr|sehr langsam|"
           "noch einmal|ohne ein Wort"),
}
TTS_ENGINES = ("flite", "espeak", "festival")
_FLITE_VOICES = ("kal16", "slt", "kal", "awb", "rms")
_ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "de", "ur", "sv", "hi", "nl",
                  "en-us-nyc", "tr", "es")
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt3",
                    "Andy", "Annie", "Michael", "Linda")
_FESTIVAL_VOICES = ("cmu_us_slt_arctic_hts", "kal_diphone")


def random_sentence(rng: np.random.Generator, language: str = "en") -> str:
    """A random sentence (subject, verb, object, time) in ``language`` ('en' or 'de')."""
    subjects, verbs, times = (s.split("|") for s in _WORDS[language])
    parts = [rng.choice(subjects), rng.choice(verbs), rng.choice(subjects), rng.choice(times)]
    if language == "de":
        parts = [parts[0], parts[1].split()[0], parts[2], parts[3], parts[1].split()[1]]
    text = " ".join(str(p) for p in parts)
    if rng.random() < 0.3:
        text += f", and {rng.integers(2, 99)} more" if language == "en" else \
            f", und {rng.integers(2, 99)} mehr"
    return text[0].upper() + text[1:] + (rng.choice([".", "?", "!"]) if rng.random() < 0.4 else ".")


def tts_available(engine: str) -> bool:
    """Whether the engine's program is on PATH."""
    program = {"flite": "flite", "espeak": "espeak-ng", "festival": "text2wave"}[engine]
    return shutil.which(program) is not None


def _pick(voices: tuple[str, ...], split: str, rng: np.random.Generator) -> str:
    """A random voice; the last third of each list is reserved for ``dev`` (unseen voices)."""
    cut = len(voices) - max(1, len(voices) // 3)
    pool = voices[cut:] if split == "dev" else voices[:cut]
    return str(rng.choice(pool))


def _command(engine: str, text_file: Path, wav: Path, rng: np.random.Generator,
             split: str) -> list[str]:
    if engine == "flite":
        return ["flite", "-voice", _pick(_FLITE_VOICES, split, rng), "-f", str(text_file),
                "-o", str(wav), "--setf", f"duration_stretch={rng.uniform(0.85, 1.2):.2f}"]
    if engine == "espeak":
        voice = f"{rng.choice(_ESPEAK_VOICES)}+{_pick(_ESPEAK_VARIANTS, split, rng)}"
        return ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(130, 200))),
                "-p", str(int(rng.integers(25, 75))), "-f", str(text_file), "-w", str(wav)]
    if engine == "festival":
        voice = _pick(_FESTIVAL_VOICES, split, rng)
        return ["text2wave", "-eval", f"(voice_{voice})", str(text_file), "-o", str(wav)]
    raise UsageError(f"unknown TTS engine {engine!r}; known: {', '.join(TTS_ENGINES)}")


def tts(engine: str, text: str, rng: np.random.Generator, *, split: str = "train",
        timeout: float = 60.0) -> SamplesF32:
    """Speak ``text`` with ``engine`` (random voice, rate and pitch); 16 kHz mono float32.

    ``split="dev"`` draws from voices never used for ``train`` (see :func:`_pick`).

    Raises:
        UsageError: unknown engine or its program is not installed.
    """
    if engine not in TTS_ENGINES or not tts_available(engine):
        raise UsageError(f"TTS engine {engine!r} is not installed (see scripts/install.sh)")
    with tempfile.TemporaryDirectory(prefix="doppelab-tts-") as tmp:
        text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        subprocess.run(_command(engine, text_file, wav, rng, split), check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return load_audio(wav, normalize=False).samples
