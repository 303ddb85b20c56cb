"""Invisible watermark: tiled spread spectrum on a size-normalised luma grid, with a pilot for sync.

Why this design (measured on real frames of ../shared/data/clips, see bench/provenance.py): the
invisible-watermark anchors fail the targets (dwtDctSvd 0.85 bit accuracy at JPEG 50 and 0.58
after a 10 % crop; rivaGan 0.79 at 0.5x and 1.1 s a frame), and training a HiDDeN-style network
on this 2-core CPU within an hour would be a gamble. A classical design meets every image target
(bench: bit accuracy 1.000 under each listed attack on 88 real frames, PSNR 39.5 dB, embed
8.5 ms at 512 px) and H.264 CRF 23; CRF 28 gives 0.96-0.98 per frame and 1.0 voted per video:

* **Scale**: the mark lives on a fixed ``128 x 128`` grid stretched over the whole frame, so any
  resize (0.5x, with or without scaling back) leaves it where the decoder looks.
* **Crop / flip**: the grid is a ``16 x 16`` chip tile repeated 8 x 8 times. A crop only shifts
  the tile cyclically and rescales the grid a little; the decoder resamples the frame to each
  candidate size (200..256 px for the 256-px decoding grid, i.e. crops up to ~22 %, then +-2 px
  per axis), folds the whitened luma into one tile (the sum over all tiles) and finds the shift
  of a keyed ``+-1`` pilot (64 of the 256 chips) by FFT cross-correlation, for the tile and its
  mirror image (horizontal flip).
* **Robustness to compression**: chips are 4 px at 512 px (low-mid frequencies that JPEG q50 and
  H.264 CRF 28 keep) with a uniform amplitude (2.7 grey levels RMS, PSNR ~39 dB). Perceptual
  masking was measured and rejected: it moves energy into texture, where x264's adaptive
  quantisation spends fewest bits, and per-frame CRF 28 accuracy fell from 0.985 to 0.88.
  Host-interference cancellation (ISS) was measured too and gave no gain after H.264.
* **Payload**: 32-bit ID + CRC-16, tail-biting K=7 convolutional code (96 coded bits, 2 chips
  each per tile, 128 chips per bit over the frame), soft Viterbi (:mod:`.ecc`).
* **False positives**: a claim needs the CRC to pass (2^-16 for a random word), the pilot peak
  z-score to reach :data:`Z_MIN` and the coded bits to agree with the decoded codeword at least
  :data:`AGREE_MIN`. Measured on 1,397 unmarked real frames and photos: 0 claims and 0 CRC
  passes (null z median 4.1, p99 5.0; agreement median 0.81, p99 0.89), so the thresholds add
  a filter on top of the CRC and the expected false-claim rate is below 2^-16 per frame.
* **Large images**: frames longer than :data:`REDUCE_SIDE` (1024 px) on an axis are reduced to
  it once (INTER_AREA) before the search; on marked 1500-8000 px images under JPEG q50, 0.5x,
  crop and flip the payloads and bit agreement are unchanged and the z-scores move by at most
  0.014 (bench/verify_large.py). Up to 1024 px a side the decoder runs exactly as before.
* **Known weak spot**: frames of 256 px at H.264 CRF 28 (chips of 2 px): per-frame payloads are
  right 17-100 % of the time there; voting over 12 frames of a video recovered every one.

Only luma changes: the same delta is added to R, G and B, so chroma subsampling (yuv420p) does
not touch the mark. Convention: images are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.types import ImageU8
from doppelab.provenance import ecc

ALGORITHM = "org.doppelab.watermark.sstile.v1"
DEFAULT_KEY = "doppelab-watermark-v1"
GRID = 128  # chips across the frame (each axis)
TILE = 16  # chips per tile side
PILOT_CHIPS = 64
OVERSAMPLE = 2  # decoding grid = GRID * OVERSAMPLE pixels
AMPLITUDE = 2.7  # RMS of the luma delta in grey levels
Z_MIN = 4.5  # pilot z-score needed for a claim (unmarked real frames: see bench)
AGREE_MIN = 0.85  # share of coded bits agreeing with the decoded codeword
MIN_SIDE = 32
REDUCE_SIDE = 4 * GRID * OVERSAMPLE  # decoder input cap per axis (see _decoder_luma)
_STRIP_ROWS = 256  # rows made float at a time when reducing a large image
_WHITEN_SIGMA = 2.0
_NORM_SIGMA = 4.0

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _Layout:
    pilot: npt.NDArray[np.int64]  # (PILOT_CHIPS,) chip indices in the tile
    bits: npt.NDArray[np.int64]  # (CODED_BITS, chips per bit) chip indices
    signs: F32  # (TILE*TILE,) +-1 spreading signs
    scramble: ecc.Bits  # (INFO_BITS,) 0/1
    pilot_fft: npt.NDArray[np.complex128]  # conj FFT of the oversampled pilot tile
    pilot_fft_flip: npt.NDArray[np.complex128]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatermarkResult:
    """What the decoder found. ``found`` is the claim; the rest explains it.

    ``bit_agreement``: share of the 96 coded bits whose sign agrees with the decoded codeword
    (0.6-0.85 on unmarked media, since Viterbi picks the nearest codeword; near 1 on marked).
    ``sync_score``: z-score of the pilot peak. ``confidence`` in [0, 1] is a monotone summary
    of both (0 whenever ``found`` is False).
    """

    found: bool
    payload_id: int | None
    crc_ok: bool
    bit_agreement: float
    sync_score: float
    confidence: float
    flipped: bool = False
    scale: tuple[float, float] = (1.0, 1.0)
    frames_checked: int = 1
    frames_found: int = 0
    raw_payload_id: int = 0  # Viterbi output even when nothing was found: for benchmarks only


def _key_stream(key: str, label: str, n: int) -> npt.NDArray[np.uint32]:
    digest = hashlib.shake_256(f"{key}/{label}".encode()).digest(4 * n)
    return np.frombuffer(digest, dtype="<u4").copy()


@lru_cache(maxsize=8)
def _layout(key: str) -> _Layout:
    chips = TILE * TILE
    perm = np.argsort(_key_stream(key, "perm", chips), kind="stable").astype(np.int64)
    signs = np.where(_key_stream(key, "signs", chips) & 1, 1.0, -1.0).astype(np.float32)
    scramble = (_key_stream(key, "scramble", ecc.INFO_BITS) & 1).astype(np.int8)
    pilot = perm[:PILOT_CHIPS]
    bits = perm[PILOT_CHIPS:].reshape(ecc.CODED_BITS, -1)
    tile = np.zeros(chips, np.float32)
    tile[pilot] = signs[pilot]
    up = np.kron(tile.reshape(TILE, TILE), np.ones((OVERSAMPLE, OVERSAMPLE), np.float32))
    return _Layout(pilot=pilot, bits=bits, signs=signs, scramble=scramble,
                   pilot_fft=np.conj(np.fft.rfft2(up)),
                   pilot_fft_flip=np.conj(np.fft.rfft2(up[:, ::-1].copy())))


def new_payload_id() -> int:
    """A random 32-bit payload ID (never 0, which reads as 'unset')."""
    return secrets.randbits(ecc.PAYLOAD_BITS) or 1


@lru_cache(maxsize=16)
def _grid(payload_id: int, key: str) -> F32:
    """The ``(GRID, GRID)`` +-1 chip pattern for one payload (pilot + spread coded bits)."""
    lay = _layout(key)
    coded = ecc.encode_payload(payload_id, lay.scramble)
    tile = np.zeros(TILE * TILE, np.float32)
    tile[lay.pilot] = lay.signs[lay.pilot]
    tile[lay.bits] = lay.signs[lay.bits] * np.where(coded > 0, 1.0, -1.0)[:, None]
    grid = np.tile(tile.reshape(TILE, TILE), (GRID // TILE, GRID // TILE))
    grid.setflags(write=False)
    return grid


def _check_type(image: ImageU8) -> None:
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 \
        and image.shape[2] == 3
    if not ok:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
        raise UsageError(f"expected an (H, W, 3) uint8 RGB image, got {got}")


def markable(width: int, height: int) -> bool:
    """Whether an image of this size can carry the watermark (at least ``MIN_SIDE`` px a
    side): :func:`embed` refuses smaller ones and :func:`detect` finds no mark in them."""
    return min(width, height) >= MIN_SIDE


def _check(image: ImageU8) -> None:
    if _unmarkable(image):
        raise UsageError(f"image too small to watermark ({image.shape[1]}x{image.shape[0]}, "
                         f"need at least {MIN_SIDE} px a side)")


def embed(image: ImageU8, payload_id: int, *, key: str = DEFAULT_KEY,
          amplitude: float = AMPLITUDE) -> ImageU8:
    """Return a copy of ``image`` carrying ``payload_id`` (32-bit) invisibly.

    Shape: ``(H, W, 3)`` uint8 RGB in and out. About 5-10 ms for 512 x 512 on one CPU core.
    """
    _check(image)
    h, w = image.shape[:2]
    delta = cv2.resize(_grid(payload_id, key), (w, h), interpolation=cv2.INTER_LINEAR)
    rms = float(np.sqrt(np.mean(delta * delta)))
    delta_i = np.rint(delta * (amplitude / max(rms, 1e-6))).astype(np.int16)
    out = image.astype(np.int16)
    out += delta_i[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _luma(image: ImageU8) -> F32:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) if image.ndim == 3 \
        else image.astype(np.float32)


def _decoder_luma(image: ImageU8) -> F32:
    """The luma the decoder searches: :func:`_luma` itself up to ``REDUCE_SIDE`` px a side.

    A longer axis is first reduced to ``REDUCE_SIDE`` (INTER_AREA, 4x the largest candidate grid)
    so that each of the ~75 candidate resamples in :func:`_search` starts from at most ~1 Mpx
    instead of the whole frame (8000 x 8000: 12.7 s -> 0.6 s of decoding). Rows are made float a
    strip at a time and narrowed at once, so no full-resolution float copy is ever held.
    INTER_AREA is separable (area weights are products of 1-D overlaps), so narrowing then
    shortening is one area reduction.
    """
    h, w = image.shape[:2]
    if max(h, w) <= REDUCE_SIDE:
        return _luma(image)
    rw, rh = min(w, REDUCE_SIDE), min(h, REDUCE_SIDE)
    rows = np.empty((h, rw), np.float32)
    for y in range(0, h, _STRIP_ROWS):
        strip = _luma(image[y:y + _STRIP_ROWS])
        rows[y:y + strip.shape[0]] = strip if rw == w else \
            cv2.resize(strip, (rw, strip.shape[0]), interpolation=cv2.INTER_AREA)
    if rh == h:
        return rows
    return np.asarray(cv2.resize(rows, (rw, rh), interpolation=cv2.INTER_AREA), np.float32)


def _folded(luma: F32, width: int, height: int) -> F32:
    """Resample, whiten (high-pass / local RMS) and fold into one oversampled tile."""
    y = cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)
    hp = y - cv2.GaussianBlur(y, (0, 0), _WHITEN_SIGMA)
    r = hp / (np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), _NORM_SIGMA)) + 2.0)
    td = TILE * OVERSAMPLE
    r = np.pad(r, ((0, -height % td), (0, -width % td)))
    folded: F32 = r.reshape(r.shape[0] // td, td, r.shape[1] // td, td).sum(axis=(0, 2))
    return folded


def _sync(folded: F32, lay: _Layout) -> tuple[float, bool, int, int]:
    """Best pilot match: (z-score, flipped, dy, dx)."""
    spec = np.fft.rfft2(folded)
    best = (-np.inf, False, 0, 0)
    for flipped, pilot in ((False, lay.pilot_fft), (True, lay.pilot_fft_flip)):
        corr = np.fft.irfft2(spec * pilot, s=folded.shape)
        z = (corr - corr.mean()) / (corr.std() + 1e-12)
        i = int(np.argmax(z))
        if z.flat[i] > best[0]:
            dy, dx = np.unravel_index(i, z.shape)
            best = (float(z.flat[i]), flipped, int(dy), int(dx))
    return best


def _soft_bits(folded: F32, flipped: bool, dy: int, dx: int, lay: _Layout) -> F32:
    g = np.roll(folded, (-dy, -dx), axis=(0, 1))
    if flipped:
        g = g[:, ::-1]
    chips = g.reshape(TILE, OVERSAMPLE, TILE, OVERSAMPLE).sum(axis=(1, 3)).ravel()
    soft = (chips[lay.bits] * lay.signs[lay.bits]).sum(axis=1)
    out: F32 = (soft / (chips.std() * np.sqrt(lay.bits.shape[1]) + 1e-12)).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class _Sync:
    z: float
    flipped: bool
    dy: int
    dx: int
    width: int
    height: int


def _search(luma: F32, lay: _Layout) -> _Sync:
    """Coarse isotropic search over grid sizes, then a +-2 px per-axis refinement."""
    full = GRID * OVERSAMPLE
    best = _Sync(-np.inf, False, 0, 0, full, full)
    for size in range(int(full * 0.78), full + 1, 2):
        z, f, dy, dx = _sync(_folded(luma, size, size), lay)
        if z > best.z:
            best = _Sync(z, f, dy, dx, size, size)
    base_w, base_h = best.width, best.height
    for w in range(base_w - 2, min(base_w + 2, full) + 1):
        for h in range(base_h - 2, min(base_h + 2, full) + 1):
            if (w, h) == (base_w, base_h):
                continue
            z, f, dy, dx = _sync(_folded(luma, w, h), lay)
            if z > best.z:
                best = _Sync(z, f, dy, dx, w, h)
    return best


def _confidence(found: bool, z: float, agree: float) -> float:
    if not found:
        return 0.0
    za = 1.0 / (1.0 + np.exp(-3.0 * (z - Z_MIN - 0.5)))
    aa = min(max((agree - AGREE_MIN) / (1.0 - AGREE_MIN), 0.0), 1.0)
    return float(round(0.5 * za + 0.5 * aa, 4))


def _result(soft: F32, z: float, lay: _Layout, *, flipped: bool, scale: tuple[float, float],
            frames: int = 1, frames_found: int = 0) -> WatermarkResult:
    pid, ok, codeword = ecc.decode_payload(soft, lay.scramble)
    agree = float(np.mean((soft > 0) == (codeword > 0)))
    found = ok and z >= Z_MIN and agree >= AGREE_MIN
    return WatermarkResult(
        found=found, payload_id=pid if found else None, crc_ok=ok, bit_agreement=round(agree, 4),
        sync_score=round(z, 3), confidence=_confidence(found, z, agree), flipped=flipped,
        scale=scale, frames_checked=frames, frames_found=frames_found if frames > 1 else
        int(found), raw_payload_id=pid)


def decode_soft(image: ImageU8, *, key: str = DEFAULT_KEY) -> tuple[F32, float, _Sync]:
    """Soft values of the 96 coded bits (``> 0`` = 1), the sync z-score and the geometry."""
    _check(image)
    lay = _layout(key)
    luma = _decoder_luma(image)
    s = _search(luma, lay)
    soft = _soft_bits(_folded(luma, s.width, s.height), s.flipped, s.dy, s.dx, lay)
    return soft, s.z, s


def _unmarkable(image: ImageU8) -> bool:
    """Smaller than :func:`embed` accepts: no doppelab watermark can be in it."""
    _check_type(image)
    return not markable(image.shape[1], image.shape[0])


def _absent(frames: int = 1) -> WatermarkResult:
    return WatermarkResult(found=False, payload_id=None, crc_ok=False, bit_agreement=0.0,
                           sync_score=0.0, confidence=0.0, frames_checked=frames)


def detect(image: ImageU8, *, key: str = DEFAULT_KEY) -> WatermarkResult:
    """Look for the watermark in one image. Never raises on unmarked input (``found=False``),
    nor on an image too small to carry a mark (under ``MIN_SIDE`` px a side)."""
    if _unmarkable(image):
        return _absent()
    soft, z, s = decode_soft(image, key=key)
    full = GRID * OVERSAMPLE
    return _result(soft, z, _layout(key), flipped=s.flipped,
                   scale=(round(s.width / full, 4), round(s.height / full, 4)))


def detect_frames(frames: Iterable[ImageU8], *, key: str = DEFAULT_KEY) -> WatermarkResult:
    """Vote across video frames: average the per-frame soft bits, else the most common valid ID.

    The caller picks the frames (e.g. 12 spread over the video); each is decoded on its own.
    Frames too small to carry a mark give ``found=False``.
    """
    lay = _layout(key)
    per: list[WatermarkResult] = []
    softs: list[F32] = []
    zs: list[float] = []
    seen = 0
    for frame in frames:
        seen += 1
        if _unmarkable(frame):
            continue
        soft, z, s = decode_soft(frame, key=key)
        softs.append(soft / (np.abs(soft).mean() + 1e-12))
        zs.append(z)
        per.append(_result(soft, z, lay, flipped=s.flipped, scale=(1.0, 1.0)))
    if not seen:
        raise UsageError("no frames to look for a watermark in")
    if not per:
        return _absent(seen)
    n_found = sum(r.found for r in per)
    fused = _result(np.mean(softs, axis=0).astype(np.float32), float(np.median(zs)), lay,
                    flipped=per[0].flipped, scale=per[0].scale, frames=len(per),
                    frames_found=n_found)
    if fused.found or n_found == 0:
        return fused
    votes = Counter(r.payload_id for r in per if r.found)
    pid, _ = votes.most_common(1)[0]
    best = max((r for r in per if r.payload_id == pid), key=lambda r: r.confidence)
    return WatermarkResult(
        found=True, payload_id=pid, crc_ok=True, bit_agreement=best.bit_agreement,
        sync_score=best.sync_score, confidence=best.confidence, flipped=best.flipped,
        scale=best.scale, frames_checked=len(per), frames_found=n_found,
        raw_payload_id=best.raw_payload_id)


def sample_indices(total: int, count: int = 12) -> Sequence[int]:
    """``count`` frame indices spread evenly over ``total`` frames."""
    if total <= count:
        return list(range(total))
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})
