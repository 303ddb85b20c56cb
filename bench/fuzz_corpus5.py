"""Round 5 of the fuzz corpus (``bench/fuzz_corpus.py``): what rounds 1-4 did not reach.

Every case is named ``r5_*`` (``bench/fuzz_inputs.py --only '^r5_'`` runs them alone) and is made
from the same tiny generated media (PyAV, Pillow, numpy; nothing downloaded). The families:

* paths: ``/dev/urandom``, FIFOs named ``.wav`` and ``.jpg`` (the audio and image ways in), a
  folder named ``.wav``, a folder mixing a good image with a FIFO, a symlink loop, a sub-folder
  and a dangling link all named as images, a folder holding only a FIFO, a symlink to a folder,
  ``file.jpg/..`` (a file used as a folder), a chain of 41 symlinks (over the kernel's 40);
* images: lossless JPEG (SOF3), MPO, grey JPEG, EXIF orientation 6 together with an ICC
  profile, a garbage ICC profile, interlaced (Adam7) PNG, 1-bit and grey+alpha PNG, lossless
  WebP with alpha, 8-bit palette and 32-bit BITFIELDS BMPs, a BMP holding a JPEG, TGA, PPM,
  16-bit PGM, QOI, float and CMYK TIFF; faces: a 14 px face, a face half outside the frame, two
  faces of very different sizes, 36 faces, a face upside down; a 1x20000 strip, a PNG chunk
  claiming 2 GB, a JPEG frame of height 0;
* audio: RF64, Sony Wave64, AIFC A-law, IMA and MS ADPCM WAV, MP3 inside WAV, WAV headers with
  0 channels, block align 0 or 12-bit samples, ``data`` before ``fmt``, a streamed WAV whose
  sizes are 0, a WAV without ``data``; FLAC whose STREAMINFO total is 2^36-1 or 0, with a 16 MB
  padding block, behind an ID3 tag, in Ogg; MP3 behind an 8 MB ID3 tag, an ID3 size that claims
  256 MB, a Xing header claiming 2^31 frames; Opus 7.1 and Opus with 255 channels (mapping
  family 255); one sample; ALAC, AC-3, E-AC-3, MP2, WMA, WavPack, TTA, AMR-NB, MKA with a silent
  first track, headerless PCM;
* video: VP9 with alpha, ProRes 4444 with alpha, PNG-in-MKV RGBA, raw BGR AVI, WMV2, FLV1,
  H.263 3GP, MPEG-1, Y4M, NUT/FFV1, interlaced H.264, a 2:1 pixel aspect ratio, display
  matrices of 180, 270, 45 degrees, a mirror and all zeros, a negative start time (an edit list
  that skips) and a delayed start (an empty edit), the first GOP zeroed, an MPEG-TS starting in
  the middle of a GOP, an AVI claiming 2^31 frames, an MP4 and an MKV claiming huge durations,
  an AVI whose rates are 0, 16 audio tracks, a Y4M header claiming 30000x30000; and files that
  make FFmpeg open others: a local and a remote HLS playlist, an ``ffconcat`` list named
  ``.mp4``, an SDP session.

:func:`round5_extra_cases` gives the runs that are not one file through every command: label
files that are a FIFO, ``/dev/zero``, ``/dev/urandom`` or a folder, a 200 kB CSV field, a NUL
byte, rows naming a FIFO or ``/dev/zero``; outputs that are a character device or a FIFO.
"""

from __future__ import annotations

import os
import stat
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
    _frames,
    astronaut,
    speech_like,
    write_audio,
)
from fuzz_corpus3 import write_clip

__all__ = ["SPECIAL_OUTPUTS", "add_round5", "round5_extra_cases", "special_output_replaced"]


def _mux_mono(out: Any, stream: Any, arr: np.ndarray) -> None:
    """Encode the mono float signal ``arr`` into ``stream`` of ``out`` and flush it."""
    for start in range(0, arr.size, 1024):
        frame = av.AudioFrame.from_ndarray(arr[None, start:start + 1024].copy(),
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts = RATE, start
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode(None):
        out.mux(pkt)


def _write(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


def _save(dst: Path, img: Image.Image, fmt: str | None = None, **kw: object) -> Path:
    img.save(dst, format=fmt, **kw)
    return dst


# ---------------------------------------------------------------- paths


def _mixed_dir(dst: Path, jpg: bytes) -> Path:
    dst.mkdir()
    (dst / "a.jpg").write_bytes(jpg)
    os.mkfifo(dst / "b.jpg")
    (dst / "c.png").symlink_to(dst / "c2.png")
    (dst / "c2.png").symlink_to(dst / "c.png")
    (dst / "d.jpg").mkdir()
    (dst / "e.png").symlink_to(dst / "nowhere.png")
    return dst


def _chain(dst: Path, target: Path, n: int) -> Path:
    prev = target
    for k in range(n, 0, -1):
        link = dst.with_name(f"{dst.name}_{k}")
        link.symlink_to(prev)
        prev = link
    dst.symlink_to(prev)
    return dst


def _paths(b: _Builder, files: dict[str, Path]) -> None:
    jpg = files["jpg"].read_bytes()
    b.add("r5_dev_urandom", "other", lambda d: Path("/dev/urandom"))
    b.add("r5_fifo.wav", "other", lambda d: (os.mkfifo(d), d)[1])
    b.add("r5_fifo.jpg", "other", lambda d: (os.mkfifo(d), d)[1])
    b.add("r5_dir_mixed", "image", lambda d: _mixed_dir(d, jpg), valid=True, face=True)
    b.add("r5_dir_only_fifo", "other", lambda d: (d.mkdir(), os.mkfifo(d / "a.jpg"), d)[2])
    plain = files["jpg"].parent.parent / "cases" / "r5_plain.jpg"
    b.add("r5_file_dotdot", "other", lambda d: (_write(plain, jpg), plain / "..")[1])
    b.add("r5_symlink_chain_41.jpg", "other", lambda d: _chain(d, files["jpg"], 41))


# ---------------------------------------------------------------- images


def _lossless_jpeg(dst: Path, astro: np.ndarray) -> Path:
    with av.open(str(dst), "w", format="image2", options={"update": "1"}) as out:
        s = out.add_stream("ljpeg", rate=1)
        s.width, s.height, s.pix_fmt = astro.shape[1], astro.shape[0], "bgr24"
        for pkt in s.encode(av.VideoFrame.from_ndarray(astro, format="rgb24")):
            out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    if not dst.read_bytes().startswith(b"\xff\xd8"):
        raise RuntimeError("ljpeg wrote no JPEG")
    return dst


def _exif_icc(dst: Path, pil: Image.Image) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pil.transpose(Image.Transpose.ROTATE_90).save(dst, "JPEG", exif=exif.tobytes(),
                                                   icc_profile=icc)
    return dst


def _png_raw(width: int, height: int, depth: int, color: int, idat: bytes,
             interlace: int = 0, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def _adam7(dst: Path, astro: np.ndarray) -> Path:
    """An interlaced (Adam7) RGB PNG written by hand (Pillow writes none)."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = astro[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + sub[y].tobytes() for y in range(sub.shape[0]))
    h, w = astro.shape[:2]
    return _write(dst, _png_raw(w, h, 8, 2, zlib.compress(raw), interlace=1))


def _png_huge_chunk(dst: Path, png: bytes) -> Path:
    """A valid PNG with an ancillary chunk after IHDR whose length claims 2^31-1 bytes."""
    fake = struct.pack(">I", 0x7FFFFFFF) + b"teXt" + b"Comment\x00short"
    return _write(dst, png[:33] + fake + png[33:])


def _jpeg_height0(dst: Path, jpg: bytes) -> Path:
    data = bytearray(jpg)
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 7] = b"\x00\x00"
    return _write(dst, bytes(data))


def _bmp_bitfields32(dst: Path, astro: np.ndarray) -> Path:
    """A 32-bit BMP (BITMAPV4 header, BI_BITFIELDS, alpha mask), bottom-up."""
    h, w = astro.shape[:2]
    bgra = np.dstack([astro[:, :, ::-1], np.full((h, w), 255, np.uint8)])[::-1]
    pixels = np.ascontiguousarray(bgra).tobytes()
    masks = struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    info = (struct.pack("<IiiHHIIiiII", 108, w, h, 1, 32, 3, len(pixels), 2835, 2835, 0, 0)
            + masks + b"sRGB"[::-1] + bytes(36) + bytes(12))
    head = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return _write(dst, head + info + pixels)


def _bmp_jpeg(dst: Path, astro: np.ndarray, jpg: bytes) -> Path:
    """A BMP whose compression is BI_JPEG (4): the pixel data is a whole JPEG file."""
    h, w = astro.shape[:2]
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 0, 4, len(jpg), 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(jpg), 0, 0, 54)
    return _write(dst, head + info + jpg)


def _pgm16(dst: Path, pil: Image.Image) -> Path:
    gray = (np.asarray(pil.convert("L"), np.uint16) * 257).astype(">u2")
    h, w = gray.shape
    return _write(dst, f"P5\n{w} {h}\n65535\n".encode() + gray.tobytes())


def _place(canvas: np.ndarray, img: np.ndarray, y: int, x: int) -> None:
    """Paste ``img`` at (y, x), clipped to the canvas (parts outside are lost)."""
    h, w = img.shape[:2]
    ys, xs = max(0, -y), max(0, -x)
    ye, xe = min(h, canvas.shape[0] - y), min(w, canvas.shape[1] - x)
    canvas[y + ys:y + ye, x + xs:x + xe] = img[ys:ye, xs:xe]


def _faces(b: _Builder) -> None:
    def resized(side: int) -> np.ndarray:
        return np.asarray(Image.fromarray(astronaut(512)).resize((side, side),
                                                                 Image.Resampling.LANCZOS))

    def canvas(h: int, w: int) -> np.ndarray:
        return np.full((h, w, 3), 90, np.uint8)

    def tiny(d: Path) -> Path:
        c = canvas(512, 512)
        _place(c, resized(48), 200, 200)  # the face is about 14 px across
        return _save(d, Image.fromarray(c))

    def border(d: Path) -> Path:
        c = canvas(320, 320)
        _place(c, resized(320), 0, -150)  # the face's left half is outside the frame
        return _save(d, Image.fromarray(c))

    def two(d: Path) -> Path:
        c = canvas(480, 640)
        _place(c, resized(420), 30, 0)
        _place(c, resized(120), 300, 480)
        return _save(d, Image.fromarray(c))

    def grid(d: Path) -> Path:
        small = resized(128)
        c = np.concatenate([np.concatenate([small] * 6, axis=1)] * 6, axis=0)
        return _save(d, Image.fromarray(c), "JPEG", quality=90)

    b.add("r5_face_14px.png", "image", tiny, valid=True, face=True)
    b.add("r5_face_half_outside.png", "image", border, valid=True, face=True)
    b.add("r5_two_faces_420_120.png", "image", two, valid=True, face=True)
    b.add("r5_36_faces.jpg", "image", grid, valid=True, face=True)
    b.add("r5_upside_down.png", "image",
          lambda d: _save(d, Image.fromarray(astronaut(256)).rotate(180)), valid=True, face=True)


def _images(b: _Builder, files: dict[str, Path]) -> None:
    astro = astronaut(256)
    pil = Image.fromarray(astro)
    jpg = files["jpg"].read_bytes()
    png = files["png"].read_bytes()
    b.add("r5_lossless_sof3.jpg", "image", lambda d: _lossless_jpeg(d, astro), valid=True,
          face=True)
    b.add("r5_mpo.jpg", "image",
          lambda d: _save(d, pil, "MPO", save_all=True, append_images=[pil.rotate(5)]),
          valid=True, face=True)
    b.add("r5_exif6_icc.jpg", "image", lambda d: _exif_icc(d, pil), valid=True, face=True)
    b.add("r5_garbage_icc.jpg", "image",
          lambda d: _save(d, pil, "JPEG", icc_profile=bytes(range(256)) * 4), valid=True,
          face=True)
    b.add("r5_adam7.png", "image", lambda d: _adam7(d, astro), valid=True, face=True)
    b.add("r5_1bit.png", "image", lambda d: _save(d, pil.convert("1")), valid=True, face=True)
    b.add("r5_lossless_alpha.webp", "image",
          lambda d: _save(d, pil.convert("RGBA"), "WEBP", lossless=True), valid=True,
          face=True)
    b.add("r5_bitfields32.bmp", "image", lambda d: _bmp_bitfields32(d, astro), valid=True,
          face=True)
    b.add("r5_bmp_holding_jpeg.bmp", "image", lambda d: _bmp_jpeg(d, astro, jpg), face=True)
    b.add("r5_image.tga", "image", lambda d: _save(d, pil, "TGA"), valid=True, face=True)
    b.add("r5_gray16.pgm", "image", lambda d: _pgm16(d, pil), valid=True, face=True)
    b.add("r5_image.qoi", "image", lambda d: _save(d, pil, "QOI"), valid=True, face=True)
    b.add("r5_float.tiff", "image",
          lambda d: _save(d, Image.fromarray(np.asarray(pil.convert("L"), np.float32) / 255)),
          valid=True, face=True)
    b.add("r5_strip_1x20000.png", "image",
          lambda d: _save(d, Image.fromarray(np.tile(astro[:, :1], (79, 1, 1))[:20000])),
          valid=True)
    b.add("r5_png_chunk_claims_2gb.png", "image", lambda d: _png_huge_chunk(d, png), face=True)
    b.add("r5_jpeg_height0.jpg", "image", lambda d: _jpeg_height0(d, jpg))
    _faces(b)


# ---------------------------------------------------------------- audio


def _pcm16(sig: np.ndarray) -> bytes:
    return (np.clip(sig, -1, 1) * 32767).astype("<i2").tobytes()


def _wav(fmt_fields: tuple[int, int, int, int, int, int], pcm: bytes, *,
         data_first: bool = False, riff_size: int | None = None,
         data_size: int | None = None) -> bytes:
    fmt = b"fmt " + struct.pack("<I", 16) + struct.pack("<HHIIHH", *fmt_fields)
    data = b"data" + struct.pack("<I", len(pcm) if data_size is None else data_size) + pcm
    body = b"WAVE" + (data + fmt if data_first else fmt + data)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _flac_total(src: Path, dst: Path, total: int) -> Path:
    """``src`` with STREAMINFO's 36-bit total-samples field set to ``total``."""
    data = bytearray(src.read_bytes())
    at = 4 + 4 + 13  # 'fLaC', block header, then 13 bytes up to the byte holding its top bits
    packed = int.from_bytes(data[at:at + 5], "big")
    packed = (packed & ~((1 << 36) - 1)) | (total & ((1 << 36) - 1))
    data[at:at + 5] = packed.to_bytes(5, "big")
    return _write(dst, bytes(data))


def _flac_padding(src: Path, dst: Path, size: int) -> Path:
    """``src`` with a PADDING block of ``size`` bytes after STREAMINFO."""
    data = bytearray(src.read_bytes())
    last = data[4] & 0x80
    data[4] &= 0x7F  # STREAMINFO is no longer the last block
    pad = bytes([0x01 | last]) + size.to_bytes(3, "big") + bytes(size)
    return _write(dst, bytes(data[:42]) + pad + bytes(data[42:]))


def _id3(size: int, claimed: int | None = None) -> bytes:
    n = size if claimed is None else claimed
    sync = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    title = b"TIT2" + struct.pack(">I", 9) + b"\x00\x00\x00round 5!"
    return b"ID3\x03\x00\x00" + sync + title + bytes(max(0, size - len(title)))


def _xing_huge(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    i = data.find(b"Xing")
    if i < 0:
        i = data.find(b"Info")
    if i < 0:
        raise RuntimeError("no Xing/Info header written")
    flags = struct.unpack(">I", data[i + 4:i + 8])[0]
    if not flags & 1:
        raise RuntimeError("Xing header without a frame count")
    data[i:i + 4] = b"Xing"
    data[i + 8:i + 12] = struct.pack(">I", 0x7FFFFFFF)
    return _write(dst, bytes(data))


def _opus_many(dst: Path, channels: int) -> Path:
    sig = speech_like(1.0, 48_000)
    arr = np.stack([sig * (0.2 + 0.002 * k) for k in range(channels)]).astype(np.float32)
    layout = "7.1"
    with av.open(str(dst), "w", format="ogg") as out:
        s = out.add_stream("libopus", rate=48_000, layout=layout)
        for start in range(0, arr.shape[1], 960):
            packed = np.ascontiguousarray(arr[:, start:start + 960].T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
            frame.sample_rate, frame.pts = 48_000, start
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    return dst


def _mka_two(dst: Path) -> Path:
    sig = speech_like(2.0)
    with av.open(str(dst), "w", format="matroska") as out:
        silent = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        speech = out.add_stream("flac", rate=RATE, layout="mono")
        for stream, arr in ((silent, np.zeros_like(sig)), (speech, sig)):
            _mux_mono(out, stream, arr)
    return dst


def _audio(b: _Builder, files: dict[str, Path]) -> None:
    sig = speech_like(2.0)
    pcm = _pcm16(sig)
    s8k = speech_like(2.0, 8000)
    b.add("r5_rf64.wav", "audio", lambda d: _rf64(d, sig), valid=True)
    b.add("r5_wave64.w64", "audio", lambda d: write_audio(d, sig, fmt="w64"), valid=True)
    b.add("r5_aifc_alaw.aifc", "audio",
          lambda d: write_audio(d, s8k, rate=8000, codec="pcm_alaw", fmt="aiff"), valid=True)
    b.add("r5_adpcm_ima.wav", "audio", lambda d: write_audio(d, sig, codec="adpcm_ima_wav"),
          valid=True)
    b.add("r5_mp3_in_wav.wav", "audio",
          lambda d: write_audio(d, sig, codec="libmp3lame", fmt="wav"), valid=True)
    b.add("r5_wav_channels_0.wav", "audio",
          lambda d: _write(d, _wav((1, 0, RATE, RATE * 2, 2, 16), pcm)))
    b.add("r5_wav_block_align_0.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 0, 16), pcm)))
    b.add("r5_wav_12_bit.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 2, 12), pcm)), valid=True)
    b.add("r5_wav_data_before_fmt.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 2, 16), pcm, data_first=True)))
    b.add("r5_wav_streamed_sizes_0.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 2, 16), pcm, riff_size=0,
                                   data_size=0)), valid=True)
    b.add("r5_wav_no_data_chunk.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 2, 16), b"")[:-8]
                           + b"junk" + struct.pack("<I", len(pcm)) + pcm))
    flac = files["flac"]
    b.add("r5_flac_total_2pow36.flac", "audio",
          lambda d: _flac_total(flac, d, (1 << 36) - 1), valid=True)
    b.add("r5_flac_padding_16mb.flac", "audio", lambda d: _flac_padding(flac, d, (1 << 24) - 1),
          valid=True)
    b.add("r5_flac_id3.flac", "audio",
          lambda d: _write(d, _id3(4096) + flac.read_bytes()), valid=True)
    b.add("r5_ogg_flac.oga", "audio", lambda d: write_audio(d, sig, codec="flac", fmt="ogg"),
          valid=True)
    mp3 = files["mp3"]
    b.add("r5_mp3_id3_8mb.mp3", "audio", lambda d: _write(d, _id3(8 << 20) + mp3.read_bytes()),
          valid=True)
    b.add("r5_mp3_id3_claims_256mb.mp3", "audio",
          lambda d: _write(d, _id3(4096, claimed=(1 << 28) - 1) + mp3.read_bytes()))
    b.add("r5_mp3_xing_2pow31.mp3", "audio", lambda d: _xing_huge(mp3, d), valid=True)
    b.add("r5_opus_7_1.opus", "audio", lambda d: _opus_many(d, 8), valid=True)
    b.skip("r5_opus_255ch.opus", "audio", "this PyAV names no 255-channel layout "
           "(AudioLayout('255c') is refused), so no mapping-family-255 Opus can be encoded")
    b.add("r5_one_sample.wav", "audio",
          lambda d: _write(d, _wav((1, 1, RATE, RATE * 2, 2, 16), pcm[:2])))
    b.add("r5_alac.m4a", "audio", lambda d: write_audio(d, sig, codec="alac", fmt="ipod"),
          valid=True)
    b.add("r5_ac3.ac3", "audio",
          lambda d: write_audio(d, speech_like(2.0, 48_000), rate=48_000, codec="ac3"),
          valid=True)
    b.add("r5_wavpack.wv", "audio", lambda d: write_audio(d, sig, codec="wavpack"), valid=True)
    b.add("r5_amr_nb.amr", "audio",
          lambda d: write_audio(d, s8k, rate=8000, codec="libopencore_amrnb"), valid=True)
    b.add("r5_mka_silent_first_track.mka", "audio", lambda d: _mka_two(d), valid=True)
    b.add("r5_headerless.pcm", "audio", lambda d: _write(d, pcm))


def _rf64(dst: Path, sig: np.ndarray) -> Path:
    with av.open(str(dst), "w", format="wav", options={"rf64": "always"}) as out:
        from fuzz_corpus import _encode_audio

        _encode_audio(out, out.add_stream("pcm_s16le", rate=RATE, layout="mono"), sig[None],
                      RATE, "mono")
    if not dst.read_bytes().startswith(b"RF64"):
        raise RuntimeError("the wav muxer wrote no RF64 header")
    return dst


# ---------------------------------------------------------------- video


def _alpha_video(dst: Path, frames: list[np.ndarray], codec: str, pix_fmt: str, fmt: str,
                 options: dict[str, str] | None = None) -> Path:
    """Frames whose left quarter is transparent, in a codec that keeps alpha."""
    with av.open(str(dst), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=10, options=options or {})
        h, w = frames[0].shape[:2]
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for img in frames:
            alpha = np.full((h, w, 1), 255, np.uint8)
            alpha[:, : w // 4] = 0
            rgba = np.ascontiguousarray(np.concatenate([img, alpha], axis=2))
            for pkt in s.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return dst


def _timed(dst: Path, frames: list[np.ndarray], first_pts: int, fmt: str | None = None) -> Path:
    """H.264 at 10 fps whose first frame has pts ``first_pts`` (time base 1/10)."""
    with av.open(str(dst), "w", format=fmt) as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
        s.codec_context.time_base = Fraction(1, 10)
        for k, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = first_pts + k, Fraction(1, 10)
            for pkt in s.encode(f):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return dst


def _matrix(src: Path, dst: Path, values: tuple[int, ...]) -> Path:
    data = bytearray(src.read_bytes())
    pos = data.index(b"tkhd") - 4
    version = data[pos + 8]
    at = pos + 8 + 4 + (32 if version == 1 else 20) + 8 + 4 + 4
    data[at:at + 36] = struct.pack(">9I", *(v & 0xFFFFFFFF for v in values))
    return _write(dst, bytes(data))


_ONE, _W = 1 << 16, 1 << 30
_C45 = 46341  # cos 45 degrees in 16.16


def _zero_first_sample(src: Path, dst: Path) -> Path:
    """A video-only MP4 with its first sample (the first keyframe) zeroed."""
    data = bytearray(src.read_bytes())
    stco = data.index(b"stco") + 4
    first = struct.unpack(">I", data[stco + 8:stco + 12])[0]
    stsz = data.index(b"stsz") + 4
    size = struct.unpack(">I", data[stsz + 12:stsz + 16])[0]
    data[first:first + size] = bytes(size)
    return _write(dst, bytes(data))


def _ts_mid_gop(dst: Path, frames: list[np.ndarray]) -> Path:
    src = write_clip(dst.with_name("r5_src_" + dst.name), frames, fmt="mpegts", audio=None,
                     codec_options={"g": "6", "bf": "0"})
    data = src.read_bytes()
    packets = len(data) // 188
    start = (packets * 3 // 10) * 188
    src.unlink()
    return _write(dst, data[start:])


def _avi_total(src: Path, dst: Path, total: int) -> Path:
    data = bytearray(src.read_bytes())
    i = data.index(b"avih") + 8
    data[i + 16:i + 20] = struct.pack("<I", total)  # dwTotalFrames
    j = data.index(b"strh") + 8
    data[j + 32:j + 36] = struct.pack("<I", total)  # dwLength
    return _write(dst, bytes(data))


def _avi_rates_zero(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    i = data.index(b"avih") + 8
    data[i:i + 4] = bytes(4)  # dwMicroSecPerFrame
    j = data.index(b"strh") + 8
    data[j + 20:j + 28] = bytes(8)  # dwScale, dwRate
    return _write(dst, bytes(data))


def _mp4_durations(src: Path, dst: Path) -> Path:
    """mvhd, tkhd and mdhd durations (version 0 boxes) set to 2^32-1."""
    data = bytearray(src.read_bytes())
    for box, offset in ((b"mvhd", 16), (b"mdhd", 16)):
        start = 0
        while True:
            k = data.find(box, start)
            if k < 0:
                break
            pos = k - 4
            if data[pos + 8] == 0:
                data[pos + 8 + offset + 4:pos + 8 + offset + 8] = b"\xff\xff\xff\xff"
            start = k + 4
    k = data.find(b"tkhd")
    while k >= 0:
        pos = k - 4
        if data[pos + 8] == 0:
            data[pos + 28:pos + 32] = b"\xff\xff\xff\xff"
        k = data.find(b"tkhd", k + 4)
    return _write(dst, bytes(data))


def _mkv_duration(src: Path, dst: Path, value: float) -> Path:
    data = bytearray(src.read_bytes())
    k = data.find(b"\x44\x89")
    if k < 0:
        raise RuntimeError("no Duration element")
    size = data[k + 2]
    if size == 0x88:
        data[k + 3:k + 11] = struct.pack(">d", value)
    elif size == 0x84:
        data[k + 3:k + 7] = struct.pack(">f", value)
    else:
        raise RuntimeError(f"Duration of size byte {size:#x}")
    return _write(dst, bytes(data))


def _many_tracks(dst: Path, frames: list[np.ndarray], n: int) -> Path:
    sig = speech_like(len(frames) / 10)
    with av.open(str(dst), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 256, 256, "yuv420p"
        tracks = [out.add_stream("pcm_s16le", rate=RATE, layout="mono") for _ in range(n)]
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for k, s in enumerate(tracks):
            _mux_mono(out, s, np.zeros_like(sig) if k == 0 else sig * (0.3 + 0.02 * k))
    return dst


def _hls(dst: Path, frames: list[np.ndarray], url: str | None) -> Path:
    if url is None:
        seg = write_clip(dst.with_name("r5_hls_segment.ts"), frames, fmt="mpegts")
        url = seg.name
    text = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXTINF:1.2,\n{url}\n#EXT-X-ENDLIST\n")
    return _write(dst, text.encode())


def _video(b: _Builder, files: dict[str, Path]) -> None:
    frames = _frames(12)
    six = frames[:6]
    small = [np.asarray(Image.fromarray(f).resize((176, 144))) for f in six]
    b.add("r5_vp9_alpha.webm", "video",
          lambda d: _alpha_video(d, six, "libvpx-vp9", "yuva420p", "webm"), valid=True,
          face=True)
    b.add("r5_prores4444_alpha.mov", "video",
          lambda d: _alpha_video(d, six[:3], "prores_ks", "yuva444p10le", "mov",
                                 {"profile": "4444"}), valid=True, face=True)
    b.add("r5_png_rgba.mov", "video",
          lambda d: _alpha_video(d, six[:3], "png", "rgba", "mov"), valid=True, face=True)
    b.add("r5_rawvideo_bgr.avi", "video",
          lambda d: write_clip(d, six[:3], codec="rawvideo", pix_fmt="bgr24", fmt="avi",
                               audio=None), valid=True, face=True)
    b.add("r5_wmv2.wmv", "video",
          lambda d: write_clip(d, six, codec="wmv2", fmt="asf", audio=None), valid=True,
          face=True)
    b.add("r5_flv1.flv", "video",
          lambda d: write_clip(d, six, codec="flv", fmt="flv", audio=None),
          valid=True, face=True)
    b.add("r5_h263.3gp", "video",
          lambda d: write_clip(d, small, codec="h263", fmt="3gp", audio="aac"), valid=True,
          face=True)
    b.add("r5_mpeg1.mpg", "video",
          lambda d: write_clip(d, six, codec="mpeg1video", fmt="mpeg", audio="mp2", fps=25),
          valid=True, face=True)
    b.add("r5_raw.y4m", "video",
          lambda d: write_clip(d, six[:3], codec="rawvideo", pix_fmt="yuv420p",
                               fmt="yuv4mpegpipe", audio=None), valid=True, face=True)
    b.add("r5_ffv1.nut", "video",
          lambda d: write_clip(d, six[:3], codec="ffv1", pix_fmt="yuv420p", fmt="nut",
                               audio="pcm_s16le"), valid=True, face=True)
    b.add("r5_interlaced.mp4", "video",
          lambda d: write_clip(d, six, codec_options={"x264-params": "interlaced=1:tff=1"}),
          valid=True, face=True)
    b.add("r5_sar_2to1.mp4", "video", lambda d: _sar(d, six), valid=True, face=True)
    mp4 = files["mp4"]
    for name, values in (("180", (-_ONE, 0, 0, 0, -_ONE, 0, 0, 0, _W)),
                         ("270", (0, -_ONE, 0, _ONE, 0, 0, 0, 0, _W)),
                         ("mirror", (-_ONE, 0, 0, 0, _ONE, 0, 0, 0, _W)),
                         ("45", (_C45, _C45, 0, -_C45, _C45, 0, 0, 0, _W))):
        b.add(f"r5_matrix_{name}.mp4", "video", lambda d, v=values: _matrix(mp4, d, v),
              valid=True, face=True)
    b.add("r5_matrix_zero.mp4", "video", lambda d: _matrix(mp4, d, (0,) * 8 + (_W,)),
          face=True)
    b.add("r5_negative_start.mp4", "video", lambda d: _timed(d, frames, -4), valid=True,
          face=True)
    b.add("r5_delayed_start.mp4", "video", lambda d: _timed(d, frames, 5), valid=True,
          face=True)
    b.add("r5_first_gop_zeroed.mp4", "video",
          lambda d: _zero_first_sample(write_clip(d.with_name("r5_src_gop.mp4"), frames,
                                                  audio=None,
                                                  codec_options={"g": "4", "bf": "0"}), d),
          face=True)
    b.add("r5_ts_mid_gop.ts", "video", lambda d: _ts_mid_gop(d, frames), face=True)
    mjpeg = files["mjpeg_avi"]
    b.add("r5_avi_claims_2pow31_frames.avi", "video",
          lambda d: _avi_total(mjpeg, d, 0x7FFFFFFF), face=True)
    b.add("r5_avi_rates_0.avi", "video", lambda d: _avi_rates_zero(mjpeg, d), face=True)
    b.add("r5_mp4_duration_max.mp4", "video", lambda d: _mp4_durations(mp4, d), face=True)
    b.add("r5_mkv_duration_1e15.mkv", "video",
          lambda d: _mkv_duration(write_clip(d.with_name("r5_src_dur.mkv"), six,
                                             fmt="matroska"), d, 1e15), face=True)
    b.add("r5_16_audio_tracks.mkv", "video", lambda d: _many_tracks(d, six, 16), valid=True,
          face=True)
    b.add("r5_y4m_claims_30000.y4m", "video",
          lambda d: _write(d, b"YUV4MPEG2 W30000 H30000 F10:1 Ip A1:1 C420jpeg\nFRAME\n"
                           + bytes(range(256)) * 40))
    b.add("r5_hls_local.m3u8", "video", lambda d: _hls(d, six, None), face=True)
    b.add("r5_hls_remote.m3u8", "video", lambda d: _hls(d, six, "http://127.0.0.1:9/seg.ts"))
    b.add("r5_ffconcat_named.mp4", "video",
          lambda d: _write(d, f"ffconcat version 1.0\nfile '{mp4}'\n".encode()), face=True)
    b.add("r5_session.sdp", "video",
          lambda d: _write(d, b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fuzz\r\n"
                           b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5004 RTP/AVP 96\r\n"
                           b"a=rtpmap:96 H264/90000\r\n"))


def _sar(dst: Path, frames: list[np.ndarray]) -> Path:
    """Frames stored at half width with a 2:1 sample aspect ratio (anamorphic)."""
    narrow = [np.asarray(Image.fromarray(f).resize((128, 256))) for f in frames]
    with av.open(str(dst), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 128, 256, "yuv420p"
        s.codec_context.sample_aspect_ratio = Fraction(2, 1)
        for img in narrow:
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return dst


# ---------------------------------------------------------------- outputs and eval


def round5_extra_cases(root: Path, files: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """Label files and output paths that are not plain files: (name, argv)."""
    jpg, png = files["jpg"], files["png"]
    fifo = root / "r5_labels_fifo.csv"
    if not fifo.exists():
        os.mkfifo(fifo)
    media_fifo = root / "r5_media_fifo.jpg"
    if not media_fifo.exists():
        os.mkfifo(media_fifo)
    specs: dict[str, bytes] = {
        "huge_field": b"path,label\n" + b"x" * 200_000 + b".jpg,0\n" + f"{png},1\n".encode(),
        "nul_byte": f"path,label\n{jpg},0\x00\n{png},1\n".encode(),
        "fifo_row": f"path,label\n{media_fifo},0\n{jpg},0\n{png},1\n".encode(),
        "dev_zero_row": f"path,label\n/dev/zero,0\n{jpg},0\n{png},1\n".encode(),
    }
    out: list[tuple[str, list[str]]] = []
    for name, body in specs.items():
        f = root / f"r5_labels_{name}.csv"
        f.write_bytes(body)
        out.append((f"r5_eval {name}", ["eval", str(f), "--out", "@OUT@/eval", "--frames", "4"]))
    for name, path in (("fifo", fifo), ("dev_zero", Path("/dev/zero")),
                       ("dev_urandom", Path("/dev/urandom")), ("folder", root / "cases")):
        out.append((f"r5_eval labels {name}",
                    ["eval", str(path), "--out", "@OUT@/eval", "--frames", "4"]))
    swap = ["swap", "--method", "mesh", "--source", str(jpg)]
    out += [
        ("r5_detect --json-out char device",
         ["detect", str(jpg), "--json-out", str(_char_device(root / "r5_null_dev.json"))]),
        ("r5_swap -o char device",
         [*swap, str(jpg), "-o", str(_char_device(root / "r5_null_dev.png"))]),
        ("r5_detect --report fifo",
         ["detect", str(jpg), "--report", str(_fifo(root / "r5_out_fifo.html"))]),
    ]
    return out


def _char_device(path: Path) -> Path:
    """A character device like /dev/null (major 1, minor 3) made in the corpus folder (needs
    root; otherwise a FIFO stands in)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        os.mkfifo(path)
    return path


def _fifo(path: Path) -> Path:
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


# The output runs whose path is a node made above: (file name, its kind's test).
SPECIAL_OUTPUTS = {
    "r5_detect --json-out char device": ("r5_null_dev.json", stat.S_ISCHR),
    "r5_swap -o char device": ("r5_null_dev.png", stat.S_ISCHR),
    "r5_detect --report fifo": ("r5_out_fifo.html", stat.S_ISFIFO),
}


def special_output_replaced(root: Path, case: str) -> bool:
    """Whether the run ``case`` (one of :data:`SPECIAL_OUTPUTS`) replaced its device node or
    FIFO with a regular file (an atomic write's final rename onto the node); the node is made
    afresh for the next run."""
    name, test = SPECIAL_OUTPUTS[case]
    path = root / name
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = 0
    intact = bool(test(mode)) or (test is stat.S_ISCHR and stat.S_ISFIFO(mode))  # not root
    if not intact:
        path.unlink(missing_ok=True)
        (_char_device if test is stat.S_ISCHR else _fifo)(path)
    return not intact


def add_round5(b: _Builder, files: dict[str, Path]) -> None:
    """Add every round-5 file case to ``b`` (``files``: the corpus's valid base files)."""
    files = dict(files)
    files["mjpeg_avi"] = write_clip(b.root / "r5_src_mjpeg.avi", _frames(6), codec="mjpeg",
                                    pix_fmt="yuvj420p", fmt="avi", audio=None)
    _paths(b, files)
    _images(b, files)
    _audio(b, files)
    _video(b, files)
