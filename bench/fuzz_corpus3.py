"""Round 3 of the fuzz corpus (``bench/fuzz_corpus.py``): codecs, containers, pixel formats,
audio layouts and lengths, and image formats the first rounds did not cover.

Every case is named ``r3_*`` (``bench/fuzz_inputs.py --only '^r3_'`` runs them alone) and is
made from the same tiny generated media as the rest of the corpus. A case this machine's PyAV
or Pillow cannot write is recorded as skipped with the reason (the builder catches the error).
The two-hour WAV is sparse: a header, two seconds of speech every minute, holes (zeros) between,
so it takes about 8 MB of disk for its 230 MB.
"""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageCms

from fuzz_corpus import (
    RATE,
    _Builder,
    _encode_audio,
    _frames,
    astronaut,
    speech_like,
    truncated,
    wav_rate,
    write_audio,
)

__all__ = ["add_round3"]


def write_clip(path: Path, frames: list[np.ndarray], *, codec: str = "libx264",
               pix_fmt: str = "yuv420p", fmt: str | None = None, fps: int = 10,
               audio: str | None = "aac", audio_seconds: float | None = None,
               audio_start: float = 0.0, options: dict[str, str] | None = None,
               codec_options: dict[str, str] | None = None) -> Path:
    """A video in any codec/container PyAV writes, with an optional speech track of
    ``audio_seconds`` (default: the video's length) starting at ``audio_start`` seconds."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        vs = out.add_stream(codec, rate=fps, options=codec_options or {})
        h, w = frames[0].shape[:2]
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        aus = out.add_stream(audio, rate=48_000 if audio == "libopus" else RATE,
                             layout="mono") if audio else None
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            rate = aus.codec_context.sample_rate
            seconds = len(frames) / fps if audio_seconds is None else audio_seconds
            _encode_delayed(out, aus, speech_like(seconds, rate)[None], rate, audio_start)
    return path


def _encode_delayed(out: Any, stream: Any, arr: np.ndarray, rate: int, start: float) -> None:
    """As ``fuzz_corpus._encode_audio``, with every frame's pts moved ``start`` seconds on."""
    if not start:
        _encode_audio(out, stream, arr, rate, "mono")
        return
    shift = round(start * rate)
    for s in range(0, arr.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr[:, s:s + 1024]),
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, shift + s, Fraction(1, rate)
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode(None):
        out.mux(pkt)


# ---------------------------------------------------------------- byte patches


def _find_box(data: bytes | bytearray, name: bytes, start: int = 0) -> int:
    """Offset of the size field of the first box ``name`` at or after ``start`` (any depth)."""
    i = data.index(name, start)
    return i - 4


def mp4_rotated(src: Path, dst: Path) -> Path:
    """``src`` with the video track's ``tkhd`` matrix set to a 90 degree display rotation."""
    data = bytearray(src.read_bytes())
    pos = _find_box(data, b"tkhd")
    version = data[pos + 8]
    matrix = pos + 8 + 4 + (32 if version == 1 else 20) + 8 + 4 + 4  # after volume/reserved
    one, zero = 1 << 16, 0
    values = (zero, one, 0, -one & 0xFFFFFFFF, zero, 0, 0, 0, 1 << 30)
    data[matrix:matrix + 36] = struct.pack(">9I", *values)
    dst.write_bytes(bytes(data))
    return dst


def mp4_without_moov(src: Path, dst: Path) -> Path:
    """An MP4 (index at the end) cut exactly where its ``moov`` box starts: all data, no index."""
    data = src.read_bytes()
    dst.write_bytes(data[:_top_box(data, b"moov")])
    return dst


def _top_box(data: bytes, name: bytes) -> int:
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == name:
            return pos
        pos += max(size, 8)
    raise ValueError(f"no top-level {name!r} box")


def mp4_mdat_cut_mid_frame(src: Path, dst: Path) -> Path:
    """A ``faststart`` MP4 (index first) cut in the middle of its 6th video sample."""
    data = src.read_bytes()
    stco = data.index(b"stco") + 4
    count = struct.unpack(">I", data[stco + 4:stco + 8])[0]
    offsets = struct.unpack(f">{count}I", data[stco + 8:stco + 8 + 4 * count])
    stsz = data.index(b"stsz") + 4
    sizes = struct.unpack(">12I", data[stsz + 12:stsz + 12 + 48])
    cut = offsets[0] + sum(sizes[:5]) + sizes[5] // 2  # one chunk holds the first samples
    dst.write_bytes(data[:cut])
    return dst


def avi_claiming(src: Path, dst: Path, width: int, height: int) -> Path:
    """An MJPEG AVI whose headers (``avih``, ``strf``) and every JPEG SOF claim a size."""
    data = bytearray(src.read_bytes())
    i = data.index(b"avih") + 8
    data[i + 32:i + 40] = struct.pack("<II", width, height)
    j = data.index(b"strf") + 8
    data[j + 4:j + 12] = struct.pack("<ii", width, height)
    k = 0
    while True:
        k = data.find(b"\xff\xc0", k)
        if k < 0:
            break
        data[k + 5:k + 9] = struct.pack(">HH", height, width)
        k += 2
    dst.write_bytes(bytes(data))
    return dst


def wav_pcm(dst: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """A plain PCM s16 WAV (``samples`` (C, N) float) written by hand: any channel count."""
    pcm = (np.clip(samples.T, -1, 1) * 32767).astype("<i2").tobytes()
    channels = samples.shape[0]
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    dst.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
                    + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)
    return dst


def sparse_long_wav(dst: Path, seconds: int, every: int = 60) -> Path:
    """A mono s16 16 kHz WAV of ``seconds``: 2 s of speech every ``every`` s, holes between
    (a sparse file: only the speech takes disk space). The speech is the clipped voice the
    VAD takes for speech (the plain synthetic voice is "no speech" to it).."""
    block = (np.clip(speech_like(2.0) * 40, -1, 1) * 32767).astype("<i2").tobytes()
    n = seconds * RATE * 2
    header = (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<I", 16)
              + struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
              + b"data" + struct.pack("<I", n))
    with open(dst, "wb") as fh:
        fh.write(header)
        for t in range(0, seconds - 2, every):
            fh.seek(44 + t * RATE * 2)
            fh.write(block)
        fh.truncate(44 + n)
    return dst


def png16_rgb(dst: Path, rgb8: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write 48-bit RGB)."""
    wide = rgb8.astype(">u2") * 257
    h, w = wide.shape[:2]
    raw = b"".join(b"\x00" + wide[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    dst.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                    + chunk(b"IEND", b""))
    return dst


def _write(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


# ---------------------------------------------------------------- cases


def _fragmented_cut(dst: Path) -> Path:
    """A fragmented MP4 cut at 60 %: the last fragments are gone or half there."""
    full = write_clip(dst.with_name("r3_src_" + dst.name), _frames(12),
                      options={"movflags": "frag_keyframe+empty_moov"})
    truncated(full, dst, 0.6)
    full.unlink()
    return dst


def _avi_claim(dst: Path, side: int) -> Path:
    """A 64x64 MJPEG AVI whose headers and frames claim ``side`` x ``side``."""
    src = write_clip(dst.with_name("r3_src_" + dst.name), _frames(3, (64, 64)), codec="mjpeg",
                     pix_fmt="yuvj420p", fmt="avi", audio=None)
    avi_claiming(src, dst, side, side)
    src.unlink()
    return dst


def _real_8000(dst: Path) -> Path:
    """Two real 8000x8000 MJPEG frames (the astronaut upscaled; 64 Mpx, under the limit)."""
    big = np.asarray(Image.fromarray(astronaut(512)).resize((8000, 8000),
                                                            Image.Resampling.NEAREST))
    return write_clip(dst, [big, big], codec="mjpeg", pix_fmt="yuvj420p", fmt="avi", fps=5,
                      audio=None)


def _video_codecs(b: _Builder, frames: list[np.ndarray]) -> None:
    six = frames[:6]
    b.add("r3_vp9_opus.webm", "video",
          lambda d: write_clip(d, six, codec="libvpx-vp9", fmt="webm", audio="libopus"),
          valid=True, face=True)
    b.add("r3_vp8_vorbis.webm", "video",
          lambda d: write_clip(d, six, codec="libvpx", fmt="webm", audio="libvorbis"),
          valid=True, face=True)
    b.add("r3_mpeg4_mp3.avi", "video",
          lambda d: write_clip(d, six, codec="mpeg4", fmt="avi", audio="libmp3lame"),
          valid=True, face=True)
    b.add("r3_mjpeg.avi", "video",
          lambda d: write_clip(d, six, codec="mjpeg", pix_fmt="yuvj420p", fmt="avi",
                               audio="pcm_s16le"), valid=True, face=True)
    b.add("r3_h264.mov", "video", lambda d: write_clip(d, six, fmt="mov"), valid=True,
          face=True)
    b.add("r3_h264.ts", "video", lambda d: write_clip(d, six, fmt="mpegts"), valid=True,
          face=True)
    b.add("r3_mpeg2.mpg", "video",
          lambda d: write_clip(d, six, codec="mpeg2video", fmt="mpeg", audio="mp2"),
          valid=True, face=True)
    b.add("r3_hevc.mp4", "video", lambda d: write_clip(d, six, codec="libx265",
                                                        codec_options={"x265-params":
                                                                       "log-level=none"}),
          valid=True, face=True)
    b.add("r3_av1.mp4", "video",
          lambda d: write_clip(d, six, codec="libaom-av1", codec_options={"cpu-used": "8"}),
          valid=True, face=True)
    b.add("r3_prores.mov", "video",
          lambda d: write_clip(d, six[:3], codec="prores", pix_fmt="yuv422p10le", fmt="mov",
                               audio=None), valid=True, face=True)
    b.add("r3_ffv1_rgb.mkv", "video",
          lambda d: write_clip(d, six[:3], codec="ffv1", pix_fmt="bgr0", fmt="matroska",
                               audio=None), valid=True, face=True)
    b.add("r3_fragmented.mp4", "video",
          lambda d: write_clip(d, six, options={"movflags": "frag_keyframe+empty_moov"}),
          valid=True, face=True)


def _video_damage(b: _Builder, files: dict[str, Path]) -> None:
    b.add("r3_moov_missing.mp4", "video", lambda d: mp4_without_moov(files["mp4"], d))
    b.add("r3_mdat_cut_mid_frame.mp4", "video",
          lambda d: mp4_mdat_cut_mid_frame(files["mp4fs"], d), face=True)
    b.add("r3_fragmented_cut.mp4", "video", lambda d: _fragmented_cut(d), face=True)
    for side in (8000, 20000):
        b.add(f"r3_claim_{side}x{side}.avi", "video", lambda d, s=side: _avi_claim(d, s))
    b.add("r3_real_8000x8000.avi", "video", lambda d: _real_8000(d), valid=True, face=True)
    b.add("r3_rotated_90.mp4", "video", lambda d: mp4_rotated(files["mp4"], d), valid=True,
          face=True)


def _pixel_formats(b: _Builder, frames: list[np.ndarray]) -> None:
    six = frames[:6]
    for pix in ("yuv444p", "yuv420p10le", "gray", "yuv422p10le"):
        b.add(f"r3_pix_{pix}.mp4", "video", lambda d, p=pix: write_clip(d, six, pix_fmt=p),
              valid=True, face=True)
    b.add("r3_pix_rgb24.mp4", "video",
          lambda d: write_clip(d, six, codec="libx264rgb", pix_fmt="rgb24"), valid=True,
          face=True)
    b.add("r3_size_1x1.mp4", "video",
          lambda d: write_clip(d, [f[:1, :1] for f in six], pix_fmt="yuv444p"), valid=True)
    b.add("r3_size_2x2.mp4", "video", lambda d: write_clip(d, [f[:2, :2] for f in six]),
          valid=True)


def video_with_wav_audio(dst: Path, frames: list[np.ndarray], wav: Path) -> Path:
    """An H.264 MKV whose audio is ``wav``'s PCM track stream-copied (any channel count)."""
    with av.open(str(wav)) as src, av.open(str(dst), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream_from_template(src.streams.audio[0])
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for pkt in src.demux(src.streams.audio[0]):
            if pkt.size:
                pkt.stream = aus
                out.mux(pkt)
    return dst


def _video_32ch(dst: Path, frames: list[np.ndarray]) -> Path:
    sig = speech_like(len(frames) / 10)
    wav = wav_pcm(dst.with_name("r3_src_32ch.wav"), np.stack([sig * 0.5] * 32))
    video_with_wav_audio(dst, frames, wav)
    wav.unlink()
    return dst


def _av_timing(b: _Builder, frames: list[np.ndarray]) -> None:
    b.add("r3_video_32ch_audio.mkv", "video", lambda d: _video_32ch(d, frames), valid=True,
          face=True)
    b.add("r3_audio_longer.mp4", "video",
          lambda d: write_clip(d, frames, audio_seconds=20.0), valid=True, face=True)
    b.add("r3_audio_shorter.mp4", "video",
          lambda d: write_clip(d, frames, audio_seconds=0.1), valid=True, face=True)
    b.add("r3_audio_late.mp4", "video",
          lambda d: write_clip(d, frames, audio_seconds=0.6, audio_start=0.8), valid=True,
          face=True)
    b.add("r3_audio_late.mkv", "video",
          lambda d: write_clip(d, frames, fmt="matroska", audio_seconds=0.6, audio_start=0.8),
          valid=True, face=True)


def _audio(b: _Builder, files: dict[str, Path]) -> None:
    sig = speech_like(2.0)
    b.add("r3_opus.webm", "audio",
          lambda d: write_audio(d, speech_like(2.0, 48_000), rate=48_000, codec="libopus",
                                fmt="webm"), valid=True)
    b.add("r3_speech.aiff", "audio", lambda d: write_audio(d, sig, codec="pcm_s16be",
                                                           fmt="aiff"), valid=True)
    b.add("r3_speech_adts.aac", "audio", lambda d: write_audio(d, sig, codec="aac", fmt="adts"),
          valid=True)
    b.add("r3_speech.caf", "audio", lambda d: write_audio(d, sig, codec="pcm_s16le", fmt="caf"),
          valid=True)
    b.add("r3_speech.au", "audio", lambda d: write_audio(d, sig, codec="pcm_s16be", fmt="au"),
          valid=True)
    b.add("r3_32_channels.wav", "audio",
          lambda d: wav_pcm(d, np.stack([sig * (0.2 + 0.02 * k) for k in range(32)])),
          valid=True)
    b.add("r3_rate_3hz.wav", "audio", lambda d: wav_rate(files["wav"], d, 3))
    b.add("r3_rate_1mhz.wav", "audio", lambda d: wav_rate(files["wav"], d, 1_000_000))
    b.add("r3_two_hours.wav", "audio", lambda d: sparse_long_wav(d, 7200), valid=True)


def _images(b: _Builder) -> None:
    astro = astronaut(256)
    pil = Image.fromarray(astro)
    frames = [Image.fromarray(f) for f in _frames(4)]
    b.add("r3_animated.png", "image",
          lambda d: (frames[0].save(d, "PNG", save_all=True, append_images=frames[1:],
                                    duration=100), d)[1], valid=True, face=True)
    b.add("r3_rgb48.png", "image", lambda d: png16_rgb(d, astro), valid=True, face=True)
    b.add("r3_multipage.tiff", "image",
          lambda d: (frames[0].save(d, "TIFF", save_all=True, append_images=frames[1:]), d)[1],
          valid=True, face=True)
    b.add("r3_icon.ico", "image", lambda d: (pil.save(d, "ICO", sizes=[(256, 256), (32, 32)]),
                                             d)[1], valid=True, face=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    b.add("r3_icc.jpg", "image", lambda d: (pil.save(d, "JPEG", icc_profile=icc), d)[1],
          valid=True, face=True)
    b.add("r3_icon_trunc50.ico", "image",
          lambda d: _ico_cut(d, pil))
    b.add("r3_image.avif", "image", lambda d: (pil.save(d, "AVIF"), d)[1], valid=True,
          face=True)
    b.add("r3_image.jp2", "image", lambda d: (pil.save(d, "JPEG2000"), d)[1], valid=True,
          face=True)
    b.skip("r3_image.heic", "image", "Pillow 13 here has no HEIF writer (no pillow-heif); "
           "r3_heic_garbage.heic stands in")
    b.skip("r3_image.jxl", "image", "no JPEG XL writer in Pillow 13 or this PyAV")
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 20
    b.add("r3_heic_garbage.heic", "image", lambda d: _write(d, heic))
    b.add("r3_heic_garbage_named.jpg", "image", lambda d: _write(d, heic))
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
           b'height="64"><circle cx="32" cy="32" r="20" fill="red"/></svg>\n')
    b.add("r3_svg_named.jpg", "image", lambda d: _write(d, svg))
    b.add("r3_pdf_named.jpg", "image", lambda d: _write(d, _pdf(pil)))


def _ico_cut(dst: Path, pil: Image.Image) -> Path:
    """An icon (256 and 32 px entries) cut at half its length."""
    src = dst.with_name("r3_src_" + dst.name)
    pil.save(src, "ICO", sizes=[(256, 256), (32, 32)])
    truncated(src, dst, 0.5)
    src.unlink()
    return dst


def _pdf(pil: Image.Image) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, "PDF")
    return buf.getvalue()


def add_round3(b: _Builder, files: dict[str, Path]) -> None:
    """Add every round-3 case to ``b`` (``files``: the corpus's valid base files)."""
    frames = _frames(12)
    _video_codecs(b, frames)
    _video_damage(b, files)
    _pixel_formats(b, frames)
    _av_timing(b, frames)
    _audio(b, files)
    _images(b)
