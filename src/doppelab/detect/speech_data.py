"""Training and measuring data for the speech detector: real speech, our fakes, codec round trips.

Every unit (a real recording, its copy-synthesised twins, a TTS sentence) goes through the same
path as audio at detection time: codec condition (applied to real and fake alike, drawn from
:data:`CONDITIONS`) -> loudness normalisation -> speech only (the *real* recording's Silero VAD
segments, so real and vocoded twins are trimmed identically) -> windows of
:data:`WINDOW_SECONDS` (short speech is tiled to fill one). So silence, loudness, container,
codec, sample rate and length carry no label.

Splits follow the shared data: ``dev`` speakers (and the TTS voices reserved for dev) are only
measured. Shards are written atomically as ``<work>/<split>-<family>.npz`` (int16 windows) and a
finished shard is reused, so an interrupted build resumes.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.audio import SAMPLE_RATE, AudioClip, join_segments, load_audio, speech_segments
from doppelab.audio.decode import SamplesF32
from doppelab.audio.encode import codec_roundtrip
from doppelab.audio.loudness import normalize_samples
from doppelab.audio.vad import Segment
from doppelab.core.errors import InputError, UsageError
from doppelab.core.storage import atomic_write_npz

__all__ = ["CONDITIONS", "FAMILIES", "WINDOW_SECONDS", "Condition", "RealItem", "apply_condition",
           "build_shard", "channel_copies", "load_shards", "lowpass_copies", "real_items",
           "real_units", "room", "room_tail", "shards_tag", "speech_signal", "speech_windows",
           "window_count"]

_log = logging.getLogger(__name__)
WINDOW_SECONDS = 2.0
WINDOW = int(WINDOW_SECONDS * SAMPLE_RATE)
FAMILIES = ("real", "griffinlim", "world", "lpc", "melgan", "istft", "flite", "espeak", "festival")


@dataclass(frozen=True, slots=True)
class Condition:
    """A codec round trip: ``kind`` of :data:`doppelab.audio.encode.CODECS`, or ``none``."""

    name: str
    kind: str = "none"
    bitrate: int | None = None
    codec_rate: int | None = None


CONDITIONS = (
    Condition("none"), Condition("none"),
    Condition("mp3-24k", "mp3", 24_000), Condition("mp3-64k", "mp3", 64_000),
    Condition("aac-32k", "m4a", 32_000), Condition("aac-96k", "m4a", 96_000),
    Condition("opus-12k", "opus", 12_000), Condition("opus-32k", "opus", 32_000),
    Condition("tel-mulaw-8k", "mulaw", None, 8_000), Condition("mp3-8k", "mp3", 16_000, 8_000),
)


@dataclass(frozen=True, slots=True)
class RealItem:
    """A real recording: ``group`` names it (one recording = one group), ``speaker`` its voice."""

    path: Path
    speaker: str
    split: str
    group: str


def real_items(data_dir: Path, split: str) -> list[RealItem]:
    """Real speech of ``split`` from ``speech.csv`` and the clips with audio in ``clips.csv``."""
    items = []
    with open(data_dir / "speech.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == split:
                items.append(RealItem(data_dir / row["file"], row["speaker"], split, row["file"]))
    clips = data_dir / "clips.csv"
    if clips.exists():
        with open(clips, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["split"] == split and row["audio"] == "yes":
                    items.append(RealItem(data_dir / row["file"], row["identity"], split,
                                          row["file"]))
    return items


def apply_condition(x: SamplesF32, cond: Condition) -> SamplesF32:
    """The codec round trip of ``cond`` (16 kHz in and out; length kept)."""
    if cond.kind == "none":
        return x
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    scale = 0.9 / peak if peak > 0.9 else 1.0  # keep the encoder out of clipping
    y = codec_roundtrip(x * scale, SAMPLE_RATE, cond.kind, bitrate=cond.bitrate,
                        codec_rate=cond.codec_rate) / scale
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)].astype(np.float32)


def speech_signal(x: SamplesF32, segments: list[Segment]) -> SamplesF32:
    """What the windows are cut from: the speech of ``segments`` joined, loudness-normalised and,
    when shorter than a window, tiled to fill one. Shape: (M,) float32, M = 0 (under 0.5 s of
    speech) or M >= WINDOW."""
    speech = join_segments(x, segments, SAMPLE_RATE)
    if len(speech) < SAMPLE_RATE // 2:
        return np.zeros(0, np.float32)
    speech, _ = normalize_samples(speech, SAMPLE_RATE)
    if len(speech) < WINDOW:
        speech = np.tile(speech, -(-WINDOW // len(speech)))[:WINDOW]
    return speech


def window_count(length: int, hop: int) -> int:
    """How many windows of :data:`WINDOW` samples every ``hop`` samples fit in ``length``."""
    return 0 if length < WINDOW else (length - WINDOW) // hop + 1


def speech_windows(x: SamplesF32, segments: list[Segment], *, hop_seconds: float = 1.0,
                   max_windows: int | None = None) -> npt.NDArray[np.float32]:
    """Loudness-normalised speech-only windows (of :func:`speech_signal`).
    Shape: (W, WINDOW) float32, W >= 0."""
    speech = speech_signal(x, segments)
    hop = max(1, round(hop_seconds * SAMPLE_RATE))
    starts = [k * hop for k in range(window_count(len(speech), hop))]
    if not starts:
        return np.zeros((0, WINDOW), np.float32)
    if max_windows is not None and len(starts) > max_windows:
        starts = starts[:: -(-len(starts) // max_windows)][:max_windows]
    return np.stack([speech[s:s + WINDOW] for s in starts]).astype(np.float32)


Unit = tuple[SamplesF32, list[Segment], str]  # audio, speech segments, group
Maker = Callable[[SamplesF32, np.random.Generator], SamplesF32]


def real_units(items: list[RealItem]) -> Iterator[tuple[AudioClip, list[Segment], str]]:
    for item in items:
        try:
            clip = load_audio(item.path)
        except InputError as exc:
            _log.warning("skipping %s: %s", item.path, exc)
            continue
        segs = speech_segments(clip)
        if segs:
            yield clip, segs, item.group


def build_shard(out: Path, units: Iterator[Unit], *, rng: np.random.Generator,
                conditions_per_unit: int = 1, max_windows: int = 3,
                progress: Callable[[int], None] | None = None) -> Path:
    """Windows of every unit under random codec conditions, written to ``out`` (npz, int16)."""
    windows, groups, conds = [], [], []
    for n, (x, segs, group) in enumerate(units):
        picks = rng.choice(len(CONDITIONS), conditions_per_unit, replace=False)
        for c in picks:
            cond = CONDITIONS[int(c)]
            w = speech_windows(apply_condition(x, cond), segs, hop_seconds=WINDOW_SECONDS,
                               max_windows=max_windows)
            windows.append(w)
            groups += [group] * len(w)
            conds += [cond.name] * len(w)
        if progress:
            progress(n)
    if not windows or not sum(len(w) for w in windows):
        raise UsageError(f"no speech windows for {out.name}")
    arr = np.concatenate(windows)
    pcm = np.clip(arr * 8192, -32768, 32767).astype(np.int16)  # -23 dBFS speech: 2 bits headroom
    atomic_write_npz(out, windows=pcm, groups=np.array(groups), conditions=np.array(conds))
    return out


def lowpass_copies(windows: npt.NDArray[np.float32], rng: np.random.Generator,
                   low: float = 3400.0, high: float = 7800.0) -> npt.NDArray[np.float32]:
    """Each window low-passed at a random cut-off in [low, high] Hz (8th-order Butterworth,
    zero phase): bandwidth becomes a nuisance the detector must ignore, on both classes.
    Shape: (N, L) -> (N, L)."""
    from scipy.signal import butter, sosfiltfilt

    out = np.empty_like(windows)
    for i, w in enumerate(windows):
        sos = butter(8, float(rng.uniform(low, high)), fs=SAMPLE_RATE, output="sos")
        out[i] = sosfiltfilt(sos, w)
    return out


def room_tail(rt60: float, drr_db: float, rng: np.random.Generator,
              rate: int = SAMPLE_RATE) -> npt.NDArray[np.float64]:
    """A room's impulse response without early reflections: the direct path (1.0) and then an
    exponentially decaying noise tail of reverberation time ``rt60`` seconds whose energy lies
    ``drr_db`` dB below the direct path's."""
    t = np.arange(1, int(rt60 * rate)) / rate
    tail = rng.normal(size=len(t)) * np.exp(-6.9 * t / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    return np.concatenate([[1.0], tail])


def room(x: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``x`` through a random synthetic room, RMS kept: a direct path, 3-6 early reflections
    (2-25 ms, gains 0.1-0.6 of either sign) and an exponentially decaying noise tail of
    reverberation time U(0.15, 0.5) s whose energy lies U(3, 15) dB below the direct path's
    (session 17: RT60 up to 0.9 s and DRR down to -3 dB on half the copies cost too much
    detection on held-out speakers)."""
    rt60 = rng.uniform(0.15, 0.5)
    drr = rng.uniform(3.0, 15.0)
    h = room_tail(rt60, drr, rng)
    for _ in range(rng.integers(3, 7)):
        delay = int(rng.uniform(0.002, 0.025) * SAMPLE_RATE)
        h[delay] += rng.uniform(0.1, 0.6) * rng.choice([-1, 1])
    y = np.convolve(x, h)[: len(x)]
    return (y * np.sqrt(np.mean(x ** 2) / (np.mean(y ** 2) + 1e-12))).astype(np.float32)


def _channel(x: npt.NDArray[np.float32], rng: np.random.Generator, rooms: bool = False
             ) -> npt.NDArray[np.float32]:
    from scipy.signal import firwin2, lfilter

    if rooms and rng.random() < 0.25:  # a quarter of the copies recorded in a room first
        x = room(x, rng)
    gains = 10 ** (rng.uniform(-6.0, 6.0, 9) / 20)
    y = lfilter(firwin2(65, np.linspace(0.0, 1.0, 9), gains), [1.0], x)
    if rng.random() < 0.5:  # mild memoryless non-linearity (a cheap microphone or amplifier)
        peak = float(np.abs(y).max()) + 1e-9
        z = y / peak
        y = peak * (z + rng.uniform(-0.2, 0.2) * z ** 2 + rng.uniform(-0.2, 0.2) * z ** 3)
    if rng.random() < 0.3:  # 8-bit mu-law quantisation (a telephone line's noise)
        peak = float(np.abs(y).max()) + 1e-9
        z = np.sign(y) * np.log1p(255 * np.abs(y) / peak) / np.log(256.0)
        z = np.round(z * 127) / 127
        y = peak * np.sign(z) * np.expm1(np.abs(z) * np.log(256.0)) / 255
    noise = lfilter([1.0], [1.0, -rng.uniform(-0.9, 0.9)], rng.standard_normal(len(x)))
    snr = 10 ** (rng.uniform(15.0, 40.0) / 10)
    y = y + noise * np.sqrt(np.mean(y ** 2) / (np.mean(noise ** 2) * snr))
    return (y * np.sqrt(np.mean(x ** 2) / (np.mean(y ** 2) + 1e-12))).astype(np.float32)


def channel_copies(windows: npt.NDArray[np.float32], rng: np.random.Generator,
                   rooms: bool = False) -> npt.NDArray[np.float32]:
    """Each window through a random channel (RawBoost-like, for both classes): with ``rooms``,
    a quarter of them first through a synthetic room (:func:`room`); then a 65-tap FIR equaliser
    with gains of -6..+6 dB at 9 frequencies, half the time a mild polynomial non-linearity,
    30% of the time 8-bit mu-law quantisation, then coloured noise at 15-40 dB SNR; RMS kept.
    Noise, room and channel then carry no label. Shape: (N, L) -> (N, L)."""
    out = np.empty_like(windows)
    for i, w in enumerate(windows):
        out[i] = _channel(w, rng, rooms)
    return out


def shards_tag(work: Path, split: str, families: tuple[str, ...] = FAMILIES) -> str:
    """``-s`` and 8 hex digits naming which of ``families`` have a ``split`` shard in ``work``
    (what :func:`load_shards` would read): part of the feature caches' names, so adding a family
    makes new caches instead of reading stale ones."""
    present = ",".join(f for f in families if (work / f"{split}-{f}.npz").exists())
    return "-s" + hashlib.sha1(present.encode(), usedforsecurity=False).hexdigest()[:8]


def load_shards(work: Path, split: str, families: tuple[str, ...] = FAMILIES
                ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], list[str], list[str]]:
    """All windows of ``split``: (windows (N, WINDOW) float32, label (N,) 1 = fake, family, group).

    Missing shards are skipped (a family whose tools are absent)."""
    xs, ys, fams, groups = [], [], [], []
    for fam in families:
        path = work / f"{split}-{fam}.npz"
        if not path.exists():
            continue
        with np.load(path) as z:
            w = z["windows"].astype(np.float32) / 8192
            g = [str(v) for v in z["groups"]]
        xs.append(w)
        ys.append(np.full(len(w), 0 if fam == "real" else 1, np.int64))
        fams += [fam] * len(w)
        groups += g
    if not xs:
        raise UsageError(f"no {split} shards in {work} (build them first)")
    return np.concatenate(xs), np.concatenate(ys), fams, groups
