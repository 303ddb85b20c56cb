"""Fuzz corpus for ``bench/fuzz_inputs.py``: broken and unusual media made from tiny files.

Every case is made here, in a folder the caller gives, from scikit-image's astronaut photo and
short synthetic video and audio encoded with PyAV; nothing is downloaded and the shared data set
is not read. :func:`make_corpus` returns the cases; each says which media family it claims to be
(``image``, ``video``, ``audio`` or ``other``), whether it is a valid file that must be processed
(``valid``) and whether a face is visible (so a "likely real" verdict without one is wrong).
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

__all__ = ["Case", "make_corpus"]

RATE = 16_000


@dataclass(frozen=True)
class Case:
    """One fuzz input. ``path`` may be missing, a folder, a loop or a fifo on purpose."""

    name: str
    path: Path
    family: str  # image | video | audio | other
    valid: bool = False  # a valid (if unusual) file: must be processed, never rejected
    face: bool = False  # a face is visible (judged for valid files only: damage may hide it)
    skip: str = ""  # why the case could not be made here (recorded, not run)


# ---------------------------------------------------------------- base media


def astronaut(size: int = 256) -> np.ndarray:
    """The public-domain astronaut photo (scikit-image), resized to ``size``."""
    from skimage import data

    img = Image.fromarray(np.ascontiguousarray(data.astronaut()))
    return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS))


def _frames(n: int, size: tuple[int, int] = (256, 256)) -> list[np.ndarray]:
    base = Image.fromarray(astronaut(512))
    out = []
    for i in range(n):
        dx, dy = int(4 * np.sin(i / 3)), int(3 * np.cos(i / 4))
        crop = base.crop((40 + dx, 20 + dy, 472 + dx, 452 + dy)).resize(size)
        out.append(np.asarray(crop))
    return out


def speech_like(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A voiced, pitch-gliding harmonic signal with syllable-like bursts (float32 mono)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.5
    return (0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, *, rate: int = RATE, codec: str = "pcm_s16le",
                fmt: str | None = None, layout: str | None = None) -> Path:
    """Encode ``samples`` ((N,) or (C, N) float32) with PyAV."""
    arr = samples[None, :] if samples.ndim == 1 else samples
    layout = layout or {1: "mono", 2: "stereo", 6: "5.1"}[arr.shape[0]]
    with av.open(str(path), "w", format=fmt) as out:
        _encode_audio(out, out.add_stream(codec, rate=rate, layout=layout), arr, rate, layout)
    return path


def _encode_audio(out: Any, stream: Any, arr: np.ndarray, rate: int, layout: str) -> None:
    """Encode and mux ``arr`` ((C, N) float32) into ``stream`` of ``out`` in 1024-sample frames,
    then flush the encoder."""
    for start in range(0, arr.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr[:, start:start + 1024]),
                                           format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode(None):
        out.mux(pkt)


def write_video(path: Path, frames: list[np.ndarray], *, fps: int = 10, audio: bool = True,
                pix_fmt: str = "yuv420p", pts: list[int] | None = None,
                options: dict[str, str] | None = None, fmt: str | None = None) -> Path:
    """H.264 video (optionally with an AAC speech-like track); ``pts`` in 1/fps/10 units."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        vs = out.add_stream("libx264", rate=fps)
        h, w = frames[0].shape[:2] if frames else (64, 64)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if pts is not None:
            vs.codec_context.time_base = Fraction(1, fps * 10)
        aus = out.add_stream("aac", rate=RATE, layout="mono") if audio else None
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, fps * 10)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            _encode_audio(out, aus, speech_like(max(len(frames), 1) / fps)[None], RATE, "mono")
    return path


def save_image(path: Path, arr: np.ndarray | Image.Image, fmt: str | None = None,
               **kw: object) -> Path:
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    img.save(path, format=fmt, **kw)
    return path


# ---------------------------------------------------------------- byte-level damage


def truncated(src: Path, dst: Path, share: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: max(1, int(len(data) * share))])
    return dst


def overwritten(src: Path, dst: Path, start: float, length: float, seed: int = 1) -> Path:
    """``src`` with the bytes from ``start`` (share of the file) over ``length`` (share) random."""
    data = bytearray(src.read_bytes())
    rng = random.Random(seed)
    a, n = int(len(data) * start), max(1, int(len(data) * length))
    data[a:a + n] = bytes(rng.randrange(256) for _ in range(n))
    dst.write_bytes(bytes(data))
    return dst


def bit_flips(src: Path, dst: Path, lo: int, hi: int, count: int, seed: int = 2) -> Path:
    """``count`` single-bit flips at random offsets in ``[lo, hi)``."""
    data = bytearray(src.read_bytes())
    rng = random.Random(seed)
    for _ in range(count):
        i = rng.randrange(lo, max(lo + 1, min(hi, len(data))))
        data[i] ^= 1 << rng.randrange(8)
    dst.write_bytes(bytes(data))
    return dst


def _box_range(data: bytes, box: bytes) -> tuple[int, int]:
    """Payload range of the first top-level ISO-BMFF box named ``box``."""
    pos = 0
    while pos + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[pos:pos + 8])
        if name == box:
            return pos + 8, pos + size
        pos += max(size, 8)
    raise ValueError(f"no {box!r} box")


def png_chunk_range(data: bytes, chunk: bytes) -> tuple[int, int]:
    pos = 8
    while pos + 8 <= len(data):
        length, name = struct.unpack(">I4s", data[pos:pos + 8])
        if name == chunk:
            return pos + 8, pos + 8 + length
        pos += 12 + length
    raise ValueError(f"no {chunk!r} chunk")


def png_claiming(src: Path, dst: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR (with a correct CRC) claims ``width`` x ``height``."""
    data = bytearray(src.read_bytes())
    body = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = body
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    dst.write_bytes(bytes(data))
    return dst


def jpeg_claiming(src: Path, dst: Path, width: int, height: int) -> Path:
    """A JPEG whose SOF0 marker claims ``width`` x ``height``."""
    data = bytearray(src.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    dst.write_bytes(bytes(data))
    return dst


def wav_lying_header(src: Path, dst: Path) -> Path:
    """A WAV whose RIFF and data sizes claim 4 GiB."""
    data = bytearray(src.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    i = data.index(b"data")
    data[i + 4:i + 8] = b"\xff\xff\xff\xff"
    dst.write_bytes(bytes(data))
    return dst


def wav_rate(src: Path, dst: Path, rate: int) -> Path:
    """A WAV whose header claims ``rate`` samples a second (and the matching byte rate)."""
    data = bytearray(src.read_bytes())
    i = data.index(b"fmt ") + 8
    channels, bits = struct.unpack("<H", data[i + 2:i + 4])[0], struct.unpack(
        "<H", data[i + 14:i + 16])[0]
    data[i + 4:i + 8] = struct.pack("<I", rate)
    data[i + 8:i + 12] = struct.pack("<I", (rate * channels * bits // 8) & 0xFFFFFFFF)
    dst.write_bytes(bytes(data))
    return dst


def bad_exif(src: Path, dst: Path) -> Path:
    """A JPEG with a malformed EXIF block (an APP1 'Exif' segment of garbage) after SOI."""
    data = src.read_bytes()
    body = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(range(200))
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    dst.write_bytes(data[:2] + app1 + data[2:])
    return dst


Maker = Callable[[Path], Path]


class _Builder:
    """Collects cases; a maker that fails records the case as skipped with the reason."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: list[Case] = []

    def add(self, name: str, family: str, make: Maker, *, valid: bool = False,
            face: bool = False, filename: str | bytes | None = None) -> None:
        target = self.root / (filename if isinstance(filename, str) else name)
        if isinstance(filename, bytes):
            target = Path(os.fsdecode(os.fsencode(self.root) + b"/" + filename))
        try:
            path = make(target)
        except Exception as exc:  # a case this machine cannot make is recorded, not fatal
            self.cases.append(Case(name, target, family, valid, face,
                                   skip=f"{type(exc).__name__}: {exc}"))
            return
        self.cases.append(Case(name, path, family, valid, face))

    def skip(self, name: str, family: str, reason: str) -> None:
        self.cases.append(Case(name, self.root / name, family, skip=reason))


def _bases(base: Path) -> dict[str, Path]:
    """Small valid files the damaged cases start from."""
    base.mkdir(parents=True, exist_ok=True)
    astro = astronaut(256)
    sig = speech_like(2.0)
    files = {
        "jpg": save_image(base / "astro.jpg", astro, quality=90),
        "png": save_image(base / "astro.png", astro),
        "wav": write_audio(base / "speech.wav", sig),
        "mp3": write_audio(base / "speech.mp3", sig, codec="libmp3lame"),
        "flac": write_audio(base / "speech.flac", sig, codec="flac"),
        "mp4": write_video(base / "clip.mp4", _frames(12)),
        "mp4fs": write_video(base / "clip_faststart.mp4", _frames(12),
                             options={"movflags": "faststart"}),
    }
    return files


def _damaged(b: _Builder, files: dict[str, Path]) -> None:
    """Truncations, random overwrites and bit flips of every base file."""
    families = {"jpg": "image", "png": "image", "wav": "audio", "mp3": "audio", "flac": "audio",
                "mp4": "video", "mp4fs": "video"}
    for key, src in files.items():
        ext = src.suffix
        for share in (0.01, 0.1, 0.5, 0.9):
            b.add(f"trunc{int(share * 100):02d}_{key}{ext}", families[key],
                  lambda d, s=src, r=share: truncated(s, d, r))
    mp4 = files["mp4fs"].read_bytes()
    lo, hi = _box_range(mp4, b"mdat")
    mid = (lo + (hi - lo) // 3) / len(mp4)
    b.add("mdat_overwrite.mp4", "video", lambda d: overwritten(files["mp4fs"], d, mid, 0.05),
          face=True)
    b.add("mdat_bitflips.mp4", "video",
          lambda d: bit_flips(files["mp4fs"], d, lo + 2000, hi, 40), face=True)
    jpg = files["jpg"].read_bytes()
    sos = jpg.index(b"\xff\xda")
    b.add("entropy_overwrite.jpg", "image",
          lambda d: overwritten(files["jpg"], d, (sos + (len(jpg) - sos) // 2) / len(jpg), 0.05))
    b.add("entropy_bitflips.jpg", "image",
          lambda d: bit_flips(files["jpg"], d, sos + 100, len(jpg) - 2, 30))
    png = files["png"].read_bytes()
    ia, ib = png_chunk_range(png, b"IDAT")
    b.add("idat_bitflips.png", "image", lambda d: bit_flips(files["png"], d, ia + 50, ib, 20))
    b.add("idat_overwrite.png", "image",
          lambda d: overwritten(files["png"], d, (ia + (ib - ia) // 2) / len(png), 0.02))
    b.add("middle_overwrite.flac", "audio",
          lambda d: overwritten(files["flac"], d, 0.5, 0.05))
    b.add("middle_overwrite.mp3", "audio", lambda d: overwritten(files["mp3"], d, 0.5, 0.05))
    b.add("wav_lying_header.wav", "audio", lambda d: wav_lying_header(files["wav"], d),
          valid=True)
    for rate, label in ((1, "1hz"), (0, "0hz"), (0xFFFFFFFF, "4ghz")):
        b.add(f"wav_rate_{label}.wav", "audio", lambda d, r=rate: wav_rate(files["wav"], d, r))
    b.add("bad_exif.jpg", "image", lambda d: bad_exif(files["jpg"], d), valid=True, face=True)


def _not_media(b: _Builder, files: dict[str, Path]) -> None:
    """Empty, random, text and misnamed files."""
    rng = random.Random(3)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    text = b"this is not media, just a line of text\n" * 50
    for ext, family in ((".mp4", "video"), (".jpg", "image"), (".png", "image"),
                        (".wav", "audio"), (".mp3", "audio")):
        b.add(f"empty{ext}", family, lambda d: (d.write_bytes(b""), d)[1])
        b.add(f"random{ext}", family, lambda d: (d.write_bytes(noise), d)[1])
    for ext, family in ((".mp4", "video"), (".jpg", "image"), (".wav", "audio")):
        b.add(f"text{ext}", family, lambda d: (d.write_bytes(text), d)[1])
    b.add("no_suffix_random", "other", lambda d: (d.write_bytes(noise), d)[1])
    for name, key, family, face in (("jpeg_named.mp4", "jpg", "image", True),
                                    ("mp4_named.png", "mp4", "video", True),
                                    ("wav_named.mp4", "wav", "audio", False),
                                    ("mp3_named.wav", "mp3", "audio", False),
                                    ("png_named.jpg", "png", "image", True)):
        b.add(name, family, lambda d, k=key: (d.write_bytes(files[k].read_bytes()), d)[1],
              valid=True, face=face)


def _images(b: _Builder, files: dict[str, Path]) -> None:
    """Unusual but valid images, and headers that lie about the size."""
    astro = astronaut(256)
    pil = Image.fromarray(astro)
    b.add("huge_claim.png", "image", lambda d: png_claiming(files["png"], d, 100_000, 100_000))
    b.add("huge_claim.jpg", "image", lambda d: jpeg_claiming(files["jpg"], d, 65_000, 65_000))
    b.add("tall_claim.png", "image", lambda d: png_claiming(files["png"], d, 1, 2**31 - 1))
    b.add("one_pixel.png", "image", lambda d: save_image(d, astro[:1, :1]), valid=True)
    b.add("one_pixel.jpg", "image", lambda d: save_image(d, astro[:1, :1]), valid=True)
    b.add("odd_17x9.png", "image", lambda d: save_image(d, astro[:9, :17]), valid=True)
    b.add("strip_3000x16.png", "image",
          lambda d: save_image(d, np.tile(astro[:16], (1, 12, 1))[:, :3000]), valid=True)
    b.add("gray16.png", "image",
          lambda d: save_image(d, Image.fromarray(
              (np.asarray(pil.convert("L"), np.uint16) * 257).astype(np.uint16))),
          valid=True, face=True)
    b.add("gray.png", "image", lambda d: save_image(d, pil.convert("L")), valid=True, face=True)
    b.add("palette.png", "image", lambda d: save_image(d, pil.convert("P")), valid=True,
          face=True)
    b.add("rgba.png", "image", lambda d: save_image(d, pil.convert("RGBA")), valid=True,
          face=True)
    b.add("transparent_rgba.png", "image",
          lambda d: save_image(d, np.dstack([astro, np.zeros(astro.shape[:2], np.uint8)])),
          valid=True, face=True)
    b.add("cmyk.jpg", "image", lambda d: save_image(d, pil.convert("CMYK"), "JPEG"), valid=True,
          face=True)
    b.add("exif_rot90.jpg", "image", lambda d: _exif_rotated(pil, d), valid=True, face=True)
    b.add("progressive.jpg", "image", lambda d: save_image(d, pil, "JPEG", progressive=True),
          valid=True, face=True)
    b.add("animated.gif", "image", lambda d: _gif(d), valid=True, face=True)
    b.add("still.gif", "image", lambda d: save_image(d, pil, "GIF"), valid=True, face=True)
    b.add("lossy.webp", "image", lambda d: save_image(d, pil, "WEBP"), valid=True, face=True)
    b.add("image.tiff", "image", lambda d: save_image(d, pil, "TIFF"), valid=True, face=True)
    b.add("image.bmp", "image", lambda d: save_image(d, pil, "BMP"), valid=True, face=True)
    b.add("large_6000x4000.jpg", "image",
          lambda d: save_image(d, pil.resize((4000, 4000)).crop((-1000, 0, 5000, 4000)),
                               quality=85), valid=True, face=True)
    b.add("black.png", "image", lambda d: save_image(d, np.zeros((256, 256, 3), np.uint8)),
          valid=True)
    b.add("no_face_noise.jpg", "image",
          lambda d: save_image(d, np.random.default_rng(4).integers(0, 256, (256, 256, 3),
                                                                    dtype=np.uint8)),
          valid=True)


def _exif_rotated(pil: Image.Image, dst: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: show rotated 90 degrees clockwise
    pil.rotate(90, expand=True).save(dst, "JPEG", exif=exif.tobytes())
    return dst


def _gif(dst: Path) -> Path:
    frames = [Image.fromarray(f).convert("P") for f in _frames(6, (128, 128))]
    frames[0].save(dst, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return dst


def _videos(b: _Builder) -> None:
    """Streams that are valid but unusual: no frames, one frame, no audio, odd sizes, VFR."""
    frames = _frames(12)
    b.add("zero_frames.mp4", "video", lambda d: write_video(d, [], audio=False))
    b.add("zero_frames_audio.mp4", "video", lambda d: write_video(d, [], audio=True))
    b.add("video_only.mp4", "video", lambda d: write_video(d, frames, audio=False), valid=True,
          face=True)
    b.add("one_frame.mp4", "video", lambda d: write_video(d, frames[:1]), valid=True, face=True)
    b.add("vfr.mp4", "video",
          lambda d: write_video(d, frames, pts=[0, 3, 5, 20, 21, 40, 41, 42, 70, 90, 91, 130]),
          valid=True, face=True)
    b.add("odd_17x9.mp4", "video",
          lambda d: write_video(d, [f[:9, :17] for f in frames[:4]], pix_fmt="yuv444p"),
          valid=True)
    b.add("strip_3000x16.mp4", "video",
          lambda d: write_video(d, [np.tile(f[:16], (1, 12, 1))[:, :3000] for f in frames[:3]]),
          valid=True)
    b.add("no_face.mp4", "video",
          lambda d: write_video(d, [np.full((128, 128, 3), 30 * i % 255, np.uint8)
                                    for i in range(8)]), valid=True)
    b.add("clip.mkv", "video", lambda d: write_video(d, frames[:6], fmt="matroska"), valid=True,
          face=True)
    b.add("garbage_audio_track.mp4", "video", lambda d: _garbage_audio(d, frames), valid=True,
          face=True)
    b.add("audio_only.m4a", "audio",
          lambda d: write_audio(d, speech_like(2.0), codec="aac", fmt="ipod"), valid=True)
    b.add("audio_only.mp4", "audio",
          lambda d: write_audio(d, speech_like(2.0), codec="aac", fmt="mp4"), valid=True)


def _garbage_audio(dst: Path, frames: list[np.ndarray]) -> Path:
    """Good H.264 frames beside an AAC track whose packets are random bytes."""
    rng = random.Random(6)
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 256, 256, "yuv420p"
        aus = out.add_stream("aac", rate=RATE, layout="mono")
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for k in range(12):
            pkt = av.Packet(bytes(rng.randrange(256) for _ in range(200)))
            pkt.stream, pkt.pts, pkt.dts = aus, k * 1024, k * 1024
            pkt.time_base = Fraction(1, RATE)
            out.mux(pkt)
    return dst


def _audios(b: _Builder) -> None:
    """Unusual but valid audio (layouts, rates, sample formats, content) and empty streams."""
    sig = speech_like(2.0)
    rng = np.random.default_rng(5)
    b.add("surround_5_1.wav", "audio",
          lambda d: write_audio(d, np.stack([sig * (0.5 + 0.1 * k) for k in range(6)])),
          valid=True)
    b.add("rate_8k.wav", "audio", lambda d: write_audio(d, speech_like(2.0, 8000), rate=8000),
          valid=True)
    b.add("rate_96k.wav", "audio",
          lambda d: write_audio(d, speech_like(1.0, 96_000), rate=96_000), valid=True)
    b.add("s24.wav", "audio", lambda d: write_audio(d, sig, codec="pcm_s24le"), valid=True)
    b.add("f32.wav", "audio", lambda d: write_audio(d, sig, codec="pcm_f32le"), valid=True)
    b.add("u8.wav", "audio", lambda d: write_audio(d, sig, codec="pcm_u8"), valid=True)
    b.add("mulaw_8k.wav", "audio",
          lambda d: write_audio(d, speech_like(2.0, 8000), rate=8000, codec="pcm_mulaw"),
          valid=True)
    b.add("silence.wav", "audio", lambda d: write_audio(d, np.zeros(32_000, np.float32)),
          valid=True)
    b.add("noise.wav", "audio",
          lambda d: write_audio(d, (0.5 * rng.standard_normal(32_000)).astype(np.float32)),
          valid=True)
    b.add("clipped.wav", "audio", lambda d: write_audio(d, np.clip(sig * 40, -1, 1)), valid=True)
    b.add("nan_f32.wav", "audio", lambda d: _nan_wav(d, sig))
    b.add("tiny_10_samples.wav", "audio", lambda d: write_audio(d, sig[:10]), valid=True)
    b.add("header_only.wav", "audio", lambda d: write_audio(d, sig[:0]))
    b.add("speech.opus.ogg", "audio", lambda d: write_audio(d, sig, codec="libopus", fmt="ogg"),
          valid=True)
    b.add("speech.vorbis.ogg", "audio",
          lambda d: write_audio(d, sig, codec="libvorbis", fmt="ogg"), valid=True)
    b.add("stereo_48k.mp3", "audio",
          lambda d: write_audio(d, np.stack([speech_like(2.0, 48_000)] * 2), rate=48_000,
                                codec="libmp3lame"), valid=True)


def _nan_wav(dst: Path, sig: np.ndarray) -> Path:
    """A float WAV whose samples are NaN and infinity in places (valid container, bad data)."""
    write_audio(dst, sig, codec="pcm_f32le")
    data = bytearray(dst.read_bytes())
    start = data.index(b"data") + 8
    bad = np.array([np.nan, np.inf, -np.inf], np.float32).tobytes()
    for k in range(start + 4000, len(data) - 12, 4000):
        data[k:k + 12] = bad
    dst.write_bytes(bytes(data))
    return dst


def _paths(b: _Builder, files: dict[str, Path]) -> None:
    """Inputs that are not plain readable files, and odd file names."""
    b.add("missing.jpg", "other", lambda d: d)
    b.add("empty_dir", "other", lambda d: (d.mkdir(), d)[1])
    b.add("dir_of_images", "image", lambda d: _image_dir(d, files), valid=True, face=True)
    b.add("dir_of_junk", "other", lambda d: _junk_dir(d))
    b.add("symlink_loop.jpg", "other", lambda d: _loop(d))
    b.add("symlink_ok.jpg", "image", lambda d: (d.symlink_to(files["jpg"]), d)[1], valid=True,
          face=True)
    b.add("fifo.mp4", "other", lambda d: (os.mkfifo(d), d)[1])
    b.add("dev_null", "other", lambda d: Path("/dev/null"))
    b.add("non_utf8_name", "image", lambda d: (d.write_bytes(files["jpg"].read_bytes()), d)[1],
          valid=True, face=True, filename=b"astro_\xff\xfe.jpg")
    b.add("spaces_unicode_name", "image",
          lambda d: (d.write_bytes(files["jpg"].read_bytes()), d)[1], valid=True, face=True,
          filename="astronaute éè 宇宙.jpg")
    if os.geteuid() == 0:
        b.skip("unreadable.jpg", "other",
               "running as root: file permissions are not enforced, chmod 000 stays readable")
    else:
        b.add("unreadable.jpg", "other", lambda d: _unreadable(d, files["jpg"]))


def _image_dir(dst: Path, files: dict[str, Path]) -> Path:
    dst.mkdir()
    (dst / "a.jpg").write_bytes(files["jpg"].read_bytes())
    (dst / "b.png").write_bytes(files["png"].read_bytes())
    return dst


def _junk_dir(dst: Path) -> Path:
    dst.mkdir()
    (dst / "a.jpg").write_bytes(b"")
    (dst / "b.png").write_bytes(b"not a png")
    return dst


def _loop(dst: Path) -> Path:
    other = dst.with_name("symlink_loop_b.jpg")
    dst.symlink_to(other)
    other.symlink_to(dst)
    return dst


def _unreadable(dst: Path, src: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    dst.chmod(0)
    return dst


def make_corpus(root: Path) -> tuple[list[Case], dict[str, Path]]:
    """Make every case under ``root``; returns the cases and the valid base files."""
    files = _bases(root / "base")
    cases_dir = root / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    b = _Builder(cases_dir)
    for name in ("jpg", "png", "wav", "mp3", "flac", "mp4"):
        b.add(f"valid_{files[name].name}", {"jpg": "image", "png": "image", "mp4": "video"}
              .get(name, "audio"), lambda d, s=files[name]: (d.write_bytes(s.read_bytes()), d)[1],
              valid=True, face=name in ("jpg", "png", "mp4"))
    _damaged(b, files)
    _not_media(b, files)
    _images(b, files)
    _videos(b)
    _audios(b)
    _paths(b, files)
    from fuzz_corpus3 import add_round3  # round 3 (its own module; it imports this one)

    add_round3(b, files)
    from fuzz_corpus4 import add_round4  # round 4 (likewise)

    add_round4(b, files)
    from fuzz_corpus5 import add_round5  # round 5 (likewise)

    add_round5(b, files)
    from fuzz_corpus6 import add_round6  # round 6: seeded mutants (likewise)

    add_round6(b, files)
    return b.cases, files
