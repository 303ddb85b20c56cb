"""Round 4 of the fuzz corpus (``bench/fuzz_corpus.py``): what rounds 1-3 did not reach.

Every case is named ``r4_*`` (``bench/fuzz_inputs.py --only '^r4_'`` runs them alone) and is made
from the same tiny generated media. The classes aimed at, beyond single files:

* paths: a dangling symlink, a socket, ``/dev/zero``, a ``/proc`` file, names holding a line
  break (a one-line error must stay one line), a 250-byte name, valid media without a suffix,
  a JPEG followed by 1 GB of (sparse) zeros;
* images: YCCK JPEG, progressive JPEG cut mid-scan, EXIF orientations 3/5/8 and out-of-range
  values, 16-bit grey+alpha PNG, palette PNG with ``tRNS``, a bad ``IDAT`` CRC, a real
  30000x30000 zlib bomb, a ``zTXt`` text bomb, 300-frame GIF, animated WebP, 4000x1 and 1x4000,
  top-down BMP, trailing garbage, two JPEGs glued, TIFF and GIF headers claiming huge sizes;
* audio: float64 NaN/Inf, float32 1e30, full-scale square wave, DC only, A-law, data sizes that
  lie by a little (short, long, odd), ``LIST``/``cue`` chunks and an odd-length chunk before
  ``data``, WAVE_FORMAT_EXTENSIBLE 5.1 and 7 channels without a mask, zeroed FLAC/MP3/Vorbis
  middles, an MP3 that is only an ID3 tag, an MP3 with a face as cover art, 10 ms, 1 kHz, and
  parameters that change mid-stream (an MP3 16 kHz then 44.1 kHz, chained Ogg, ADTS mono then
  stereo);
* video: zeroed ``mdat`` bytes, a data-only MPEG-TS (no subtitle encoder opens here),
  ``stts`` deltas of zero and of 2^31 (duplicated / backwards timestamps), ``mdhd`` time
  scales 0, 1 and 2^32-1, 20 black frames then a face, 513x291, yuvj420p, a resolution
  change mid-stream (MPEG-TS), two video streams, trailing garbage after an MP4, a raw H.264
  elementary stream (no timestamps).

:func:`round4_extra_cases` gives the runs that are not one file through every command: bad
output paths and ``eval`` label files (missing header, bad labels, one class, BOM and CRLF...).
"""

from __future__ import annotations

import io
import random
import socket
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from fuzz_corpus import (
    RATE,
    _Builder,
    _frames,
    astronaut,
    speech_like,
    write_audio,
    write_video,
)
from fuzz_corpus3 import png16_rgb, wav_pcm, write_clip

__all__ = ["add_round4", "round4_extra_cases"]


def _write(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


def _png(width: int, height: int, bit_depth: int, color: int, raw: bytes,
         extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", raw)
            + chunk(b"IEND", b""))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


# ---------------------------------------------------------------- paths


def _paths(b: _Builder, files: dict[str, Path]) -> None:
    jpg = files["jpg"].read_bytes()
    rng = random.Random(41)
    noise = bytes(rng.randrange(256) for _ in range(5000))
    b.add("r4_dangling_symlink.jpg", "other",
          lambda d: (d.symlink_to(d.with_name("r4_no_such_target.jpg")), d)[1])
    b.add("r4_socket.mp4", "other", lambda d: _socket(d))
    b.add("r4_dev_zero", "other", lambda d: Path("/dev/zero"))
    b.add("r4_proc_file", "other", lambda d: Path("/proc/self/status"))
    b.add("r4_newline_name_broken", "other", lambda d: _write(d, noise),
          filename="r4_broken\nname.jpg")
    b.add("r4_newline_name_valid", "image", lambda d: _write(d, jpg), valid=True, face=True,
          filename="r4_valid\nname.jpg")
    b.add("r4_long_name", "image", lambda d: _write(d, jpg), valid=True, face=True,
          filename="r4_" + "n" * 243 + ".jpg")
    b.add("r4_jpeg_no_suffix", "image", lambda d: _write(d, jpg), valid=True, face=True)
    b.add("r4_mp4_no_suffix", "video", lambda d: _write(d, files["mp4"].read_bytes()),
          valid=True, face=True)
    b.add("r4_jpeg_upper.JPG", "image", lambda d: _write(d, jpg), valid=True, face=True)
    b.add("r4_sparse_1gb_tail.jpg", "image", lambda d: _sparse_tail(d, jpg), valid=True,
          face=True)


def _socket(dst: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dst))
    sock.close()  # the socket file stays
    return dst


def _sparse_tail(dst: Path, jpg: bytes) -> Path:
    with open(dst, "wb") as fh:
        fh.write(jpg)
        fh.truncate(len(jpg) + (1 << 30))
    return dst


# ---------------------------------------------------------------- images


def _ycck(dst: Path, pil: Image.Image) -> Path:
    """A CMYK JPEG whose Adobe APP14 marker says transform 2 (YCCK)."""
    buf = io.BytesIO()
    pil.convert("CMYK").save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xeeAdobe") if b"\xff\xeeAdobe" in data else -1
    if i < 0:  # no Adobe marker written: add one after SOI
        body = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 2)
        data[2:2] = b"\xff\xee" + struct.pack(">H", len(body) + 2) + body
    else:
        data[i + 4 + 11] = 2
    return _write(dst, bytes(data))


def _progressive_cut(dst: Path, pil: Image.Image, share: float) -> Path:
    buf = io.BytesIO()
    pil.save(buf, "JPEG", progressive=True, quality=90)
    data = buf.getvalue()
    return _write(dst, data[: int(len(data) * share)])


# EXIF orientation -> how to store an upright picture so that a reader that honours the tag
# shows it upright (the inverse of the reader's transpose); out-of-range values store it as is.
_STORE = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.TRANSPOSE,
          8: Image.Transpose.ROTATE_270}


def _exif(dst: Path, pil: Image.Image, value: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = value
    stored = pil.transpose(_STORE[value]) if value in _STORE else pil
    stored.save(dst, "JPEG", exif=exif.tobytes())
    return dst


def _gray_alpha16(dst: Path, astro: np.ndarray) -> Path:
    gray = (np.asarray(Image.fromarray(astro).convert("L"), np.uint16) * 257).astype(">u2")
    alpha = np.full(gray.shape, 65535, ">u2")
    alpha[:, :20] = 0
    la = np.stack([gray, alpha], axis=2)
    raw = b"".join(b"\x00" + la[y].tobytes() for y in range(la.shape[0]))
    return _write(dst, _png(la.shape[1], la.shape[0], 16, 4, zlib.compress(raw)))


def _palette_trns(dst: Path, pil: Image.Image) -> Path:
    p = pil.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    p.save(dst, "PNG", transparency=bytes([0] * 8 + [255] * 56))
    return dst


def _bad_idat_crc(dst: Path, src: Path) -> Path:
    data = bytearray(src.read_bytes())
    pos = 8
    while pos + 8 <= len(data):
        length, name = struct.unpack(">I4s", data[pos:pos + 8])
        if name == b"IDAT":
            end = pos + 8 + length
            data[end:end + 4] = bytes(x ^ 0xFF for x in data[end:end + 4])
            break
        pos += 12 + length
    return _write(dst, bytes(data))


def _zlib_bomb(dst: Path, side: int) -> Path:
    """A grey ``side`` x ``side`` PNG of real, tiny zlib data (a decompression bomb)."""
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * side
    parts = [comp.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(comp.compress(row * (side % 1000)))
    parts.append(comp.flush())
    return _write(dst, _png(side, side, 8, 0, b"".join(parts)))


def _ztxt_bomb(dst: Path, astro: np.ndarray) -> Path:
    """A valid 64x64 PNG with a zTXt chunk that inflates to 64 MB."""
    small = np.ascontiguousarray(astro[:64, :64])
    raw = b"".join(b"\x00" + small[y].tobytes() for y in range(64))
    text = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 9))
    return _write(dst, _png(64, 64, 8, 2, zlib.compress(raw), extra=text))


def _gif_frames(dst: Path, n: int) -> Path:
    base = _frames(12, (192, 192))
    frames = [Image.fromarray(base[i % 12]).convert("P") for i in range(n)]
    frames[0].save(dst, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return dst


def _webp_animated(dst: Path) -> Path:
    frames = [Image.fromarray(f) for f in _frames(8, (192, 192))]
    frames[0].save(dst, "WEBP", save_all=True, append_images=frames[1:], duration=80)
    return dst


def _bmp_top_down(dst: Path, astro: np.ndarray) -> Path:
    h, w = astro.shape[:2]
    rows = np.ascontiguousarray(astro[:, :, ::-1])  # BGR, top row first
    pixels = rows.tobytes()  # 256*3 = 768 bytes a row: no padding needed
    info = struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54)
    return _write(dst, head + info + pixels)


def _tiff_claim(dst: Path, pil: Image.Image, side: int) -> Path:
    """An uncompressed TIFF whose ImageWidth/ImageLength tags claim ``side`` x ``side``."""
    buf = io.BytesIO()
    pil.resize((64, 64)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    for k in range(count):
        e = ifd + 2 + 12 * k
        tag, _kind = struct.unpack(order + "HH", data[e:e + 4])
        if tag in (256, 257):
            data[e + 2:e + 4] = struct.pack(order + "H", 4)  # LONG
            data[e + 8:e + 12] = struct.pack(order + "I", side)
    return _write(dst, bytes(data))


def _gif_claim(dst: Path, pil: Image.Image, side: int) -> Path:
    buf = io.BytesIO()
    pil.resize((64, 64)).convert("P").save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", side, side)
    return _write(dst, bytes(data))


def _images(b: _Builder, files: dict[str, Path]) -> None:
    astro = astronaut(256)
    pil = Image.fromarray(astro)
    jpg = files["jpg"].read_bytes()
    rng = random.Random(42)
    b.add("r4_ycck.jpg", "image", lambda d: _ycck(d, pil), valid=True, face=True)
    b.add("r4_progressive_cut20.jpg", "image", lambda d: _progressive_cut(d, pil, 0.2))
    b.add("r4_progressive_cut60.jpg", "image", lambda d: _progressive_cut(d, pil, 0.6))
    for value in (3, 5, 8):
        b.add(f"r4_exif_orient_{value}.jpg", "image", lambda d, v=value: _exif(d, pil, v),
              valid=True, face=True)
    for value in (0, 9, 65535):
        b.add(f"r4_exif_orient_bad_{value}.jpg", "image", lambda d, v=value: _exif(d, pil, v),
              valid=True, face=True)
    b.add("r4_gray_alpha16.png", "image", lambda d: _gray_alpha16(d, astro), valid=True,
          face=True)
    b.add("r4_palette_trns.png", "image", lambda d: _palette_trns(d, pil), valid=True,
          face=True)
    b.add("r4_idat_bad_crc.png", "image", lambda d: _bad_idat_crc(d, files["png"]), face=True)
    b.add("r4_zlib_bomb_30000.png", "image", lambda d: _zlib_bomb(d, 30_000))
    b.add("r4_ztxt_bomb.png", "image", lambda d: _ztxt_bomb(d, astro))
    b.add("r4_gif_300_frames.gif", "image", lambda d: _gif_frames(d, 300), valid=True,
          face=True)
    b.add("r4_animated.webp", "image", lambda d: _webp_animated(d), valid=True, face=True)
    b.add("r4_strip_4000x1.png", "image",
          lambda d: (Image.fromarray(np.tile(astro[:1], (1, 16, 1))[:, :4000]).save(d), d)[1],
          valid=True)
    b.add("r4_strip_1x4000.png", "image",
          lambda d: (Image.fromarray(np.tile(astro[:, :1], (16, 1, 1))[:4000]).save(d), d)[1],
          valid=True)
    b.add("r4_bmp_top_down.bmp", "image", lambda d: _bmp_top_down(d, astro), valid=True,
          face=True)
    b.add("r4_jpeg_trailing_garbage.jpg", "image",
          lambda d: _write(d, jpg + bytes(rng.randrange(256) for _ in range(50_000))),
          valid=True, face=True)
    b.add("r4_two_jpegs.jpg", "image", lambda d: _write(d, jpg + jpg), valid=True, face=True)
    b.add("r4_png16_rgb_small.png", "image", lambda d: png16_rgb(d, astro[:7, :5]), valid=True)
    b.add("r4_tiff_claim_100000.tiff", "image", lambda d: _tiff_claim(d, pil, 100_000))
    b.add("r4_gif_claim_16000.gif", "image", lambda d: _gif_claim(d, pil, 16_000))


# ---------------------------------------------------------------- audio


def _float_wav(dst: Path, samples: np.ndarray, dtype: str) -> Path:
    """A mono float WAV (format tag 3) of ``samples`` stored as ``dtype`` ('<f4' or '<f8')."""
    data = samples.astype(dtype).tobytes()
    width = np.dtype(dtype).itemsize
    fmt = struct.pack("<HHIIHH", 3, 1, RATE, RATE * width, width, 8 * width)
    return _write(dst, b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
                  + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)


def _nan_f64(dst: Path, sig: np.ndarray) -> Path:
    x = sig.astype(np.float64)
    x[1000::3000] = np.nan
    x[2000::3000] = np.inf
    x[2500::3000] = -np.inf
    return _float_wav(dst, x, "<f8")


def _wav_data_size(src: Path, dst: Path, delta: int) -> Path:
    data = bytearray(src.read_bytes())
    i = data.index(b"data")
    size = struct.unpack("<I", data[i + 4:i + 8])[0]
    data[i + 4:i + 8] = struct.pack("<I", size + delta)
    return _write(dst, bytes(data))


def _wav_chunks(dst: Path, sig: np.ndarray) -> Path:
    """A WAV with LIST/INFO, cue and an odd-length (padded) chunk between fmt and data."""
    pcm = (np.clip(sig, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    info = b"INFOINAM" + struct.pack("<I", 6) + b"fuzz4\x00"
    cue = struct.pack("<I", 1) + struct.pack("<II4sIII", 1, 0, b"data", 0, 0, 8000)
    odd = b"xyz"
    body = (b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"LIST" + struct.pack("<I", len(info)) + info
            + b"cue " + struct.pack("<I", len(cue)) + cue
            + b"junk" + struct.pack("<I", len(odd)) + odd + b"\x00"
            + b"data" + struct.pack("<I", len(pcm)) + pcm)
    return _write(dst, b"RIFF" + struct.pack("<I", len(body)) + body)


def _wav_extensible(dst: Path, sig: np.ndarray, channels: int, mask: int) -> Path:
    arr = np.stack([sig * (0.3 + 0.05 * k) for k in range(channels)])
    pcm = (np.clip(arr.T, -1, 1) * 32767).astype("<i2").tobytes()
    pcm_guid = bytes.fromhex("0100000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, RATE, RATE * 2 * channels, 2 * channels,
                      16, 22, 16, mask) + pcm_guid
    return _write(dst, b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(pcm)) + b"WAVE"
                  + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                  + b"data" + struct.pack("<I", len(pcm)) + pcm)


def _zeroed(src: Path, dst: Path, start: float, length: float) -> Path:
    data = bytearray(src.read_bytes())
    a, n = int(len(data) * start), max(1, int(len(data) * length))
    data[a:a + n] = bytes(n)
    return _write(dst, bytes(data))


def _id3(frames: bytes) -> bytes:
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frames


def _id3_frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack(">I", len(body)) + b"\x00\x00" + body


def _mp3_cover(dst: Path, mp3: Path, jpg: bytes) -> Path:
    apic = _id3_frame(b"APIC", b"\x00image/jpeg\x00\x03cover\x00" + jpg)
    title = _id3_frame(b"TIT2", b"\x00fuzz round 4")
    return _write(dst, _id3(title + apic) + mp3.read_bytes())


def _concat_rates(dst: Path, codec: str, fmt: str, parts: list[tuple[int, str]]) -> Path:
    """Streams encoded apart (rate, layout each) and glued byte by byte."""
    blob = b""
    for k, (rate, layout) in enumerate(parts):
        part = dst.with_name(f"r4_src_{k}_{dst.name}")
        sig = speech_like(1.5, rate, seed=k)
        arr = np.stack([sig, sig]) if layout == "stereo" else sig
        write_audio(part, arr, rate=rate, codec=codec, fmt=fmt, layout=layout)
        blob += part.read_bytes()
        part.unlink()
    return _write(dst, blob)


def _audio(b: _Builder, files: dict[str, Path]) -> None:
    sig = speech_like(2.0)
    t = np.arange(32_000) / RATE
    b.add("r4_f64_nan_inf.wav", "audio", lambda d: _nan_f64(d, sig))
    b.add("r4_f32_1e30.wav", "audio",
          lambda d: _float_wav(d, sig.astype(np.float64) * 1e30, "<f4"))
    b.add("r4_f64_valid.wav", "audio", lambda d: _float_wav(d, sig, "<f8"), valid=True)
    b.add("r4_square_full_scale.wav", "audio",
          lambda d: write_audio(d, np.sign(np.sin(2 * np.pi * 150 * t)).astype(np.float32)),
          valid=True)
    b.add("r4_dc_only.wav", "audio", lambda d: write_audio(d, np.full(32_000, 0.5, np.float32)),
          valid=True)
    b.add("r4_alaw_8k.wav", "audio",
          lambda d: write_audio(d, speech_like(2.0, 8000), rate=8000, codec="pcm_alaw"),
          valid=True)
    b.add("r4_wav_size_short.wav", "audio",
          lambda d: _wav_data_size(files["wav"], d, -32_000), valid=True)
    b.add("r4_wav_size_long.wav", "audio", lambda d: _wav_data_size(files["wav"], d, 10_000),
          valid=True)
    b.add("r4_wav_size_odd.wav", "audio", lambda d: _wav_data_size(files["wav"], d, -1),
          valid=True)
    b.add("r4_wav_list_cue.wav", "audio", lambda d: _wav_chunks(d, sig), valid=True)
    b.add("r4_wav_ext_5_1.wav", "audio", lambda d: _wav_extensible(d, sig, 6, 0x3F),
          valid=True)
    b.add("r4_wav_ext_7ch_nomask.wav", "audio", lambda d: _wav_extensible(d, sig, 7, 0),
          valid=True)
    b.add("r4_flac_zeroed_middle.flac", "audio",
          lambda d: _zeroed(files["flac"], d, 0.4, 0.1))
    b.add("r4_mp3_zeroed_middle.mp3", "audio", lambda d: _zeroed(files["mp3"], d, 0.4, 0.1))
    b.add("r4_vorbis_zeroed_middle.ogg", "audio", lambda d: _vorbis_zeroed(d, sig))
    b.add("r4_id3_only.mp3", "audio",
          lambda d: _write(d, _id3(_id3_frame(b"TIT2", b"\x00only a tag"))))
    b.add("r4_mp3_cover_face.mp3", "audio",
          lambda d: _mp3_cover(d, files["mp3"], files["jpg"].read_bytes()), valid=True)
    b.add("r4_audio_10ms.wav", "audio", lambda d: write_audio(d, sig[:160]))
    b.add("r4_rate_1khz.wav", "audio", lambda d: wav_pcm(d, speech_like(2.0, 1000)[None], 1000))
    b.add("r4_mp3_rate_change.mp3", "audio",
          lambda d: _concat_rates(d, "libmp3lame", "mp3", [(16_000, "mono"), (44_100, "mono")]))
    b.add("r4_ogg_chained.ogg", "audio",
          lambda d: _concat_rates(d, "libvorbis", "ogg", [(16_000, "mono"), (44_100, "stereo")]))
    b.add("r4_adts_mono_stereo.aac", "audio",
          lambda d: _concat_rates(d, "aac", "adts", [(16_000, "mono"), (16_000, "stereo")]))


def _vorbis_zeroed(dst: Path, sig: np.ndarray) -> Path:
    src = write_audio(dst.with_name("r4_src_" + dst.name), sig, codec="libvorbis", fmt="ogg")
    _zeroed(src, dst, 0.4, 0.1)
    src.unlink()
    return dst


# ---------------------------------------------------------------- video


def _patch_mp4_boxes(src: Path, dst: Path, box: bytes, patch: object) -> Path:
    data = bytearray(src.read_bytes())
    i = data.index(box) - 4
    patch(data, i)  # type: ignore[operator]
    return _write(dst, bytes(data))


def _stts(data: bytearray, pos: int, delta: int) -> None:
    count = struct.unpack(">I", data[pos + 12:pos + 16])[0]
    for k in range(count):
        e = pos + 16 + 8 * k
        data[e + 4:e + 8] = struct.pack(">I", delta)


def _mdhd(data: bytearray, pos: int, scale: int) -> None:
    version = data[pos + 8]
    at = pos + 12 + (16 if version == 1 else 8)
    data[at:at + 4] = struct.pack(">I", scale)


def _data_only(dst: Path) -> Path:
    """An MPEG-TS whose only stream is a data stream (PyAV cannot open a subtitle encoder
    here, so no subtitle-only file can be written; a data-only one stands in)."""
    from fractions import Fraction

    with av.open(str(dst), "w", format="mpegts") as out:
        s = out.add_data_stream()
        for k in range(20):
            pkt = av.Packet(f"data packet {k}".encode())
            pkt.stream, pkt.pts, pkt.dts = s, k * 1000, k * 1000
            pkt.time_base = Fraction(1, 1000)
            out.mux(pkt)
    return dst


def _res_change(dst: Path, frames: list[np.ndarray]) -> Path:
    a = write_clip(dst.with_name("r4_src_a.ts"), frames[:6], fmt="mpegts")
    small = [np.asarray(Image.fromarray(f).resize((320, 192))) for f in frames[6:]]
    c = write_clip(dst.with_name("r4_src_c.ts"), small, fmt="mpegts")
    _write(dst, a.read_bytes() + c.read_bytes())
    a.unlink()
    c.unlink()
    return dst


def _two_video_streams(dst: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(dst), "w", format="matroska") as out:
        v1 = out.add_stream("libx264", rate=10)
        v1.width, v1.height, v1.pix_fmt = 64, 48, "yuv420p"
        v2 = out.add_stream("libx264", rate=10)
        v2.width, v2.height, v2.pix_fmt = 256, 256, "yuv420p"
        for img in frames[:6]:
            tiny = np.asarray(Image.fromarray(img).resize((64, 48)))
            for stream, arr in ((v1, tiny), (v2, img)):
                for pkt in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    out.mux(pkt)
        for stream in (v1, v2):
            for pkt in stream.encode():
                out.mux(pkt)
    return dst


def _video(b: _Builder, files: dict[str, Path]) -> None:
    frames = _frames(12)
    mp4 = files["mp4"]
    rng = random.Random(43)
    data = mp4.read_bytes()
    mdat = data.index(b"mdat")
    b.add("r4_mdat_zeroed.mp4", "video",
          lambda d: _zeroed(mp4, d, (mdat + (len(data) - mdat) // 4) / len(data), 0.08),
          face=True)
    b.add("r4_data_only.ts", "video", lambda d: _data_only(d))
    b.add("r4_stts_zero.mp4", "video",
          lambda d: _patch_mp4_boxes(mp4, d, b"stts", lambda a, i: _stts(a, i, 0)), face=True)
    b.add("r4_stts_2pow31.mp4", "video",
          lambda d: _patch_mp4_boxes(mp4, d, b"stts", lambda a, i: _stts(a, i, 1 << 31)),
          face=True)
    for scale, label in ((0, "0"), (1, "1"), (0xFFFFFFFF, "max")):
        b.add(f"r4_timescale_{label}.mp4", "video",
              lambda d, s=scale: _patch_mp4_boxes(mp4, d, b"mdhd",
                                                  lambda a, i: _mdhd(a, i, s)), face=True)
    b.add("r4_black_then_face.mp4", "video",
          lambda d: write_video(d, [np.zeros((256, 256, 3), np.uint8)] * 20 + frames[:10]),
          valid=True, face=True)
    big = [np.asarray(Image.fromarray(f).resize((513, 291))) for f in frames[:6]]
    b.add("r4_odd_513x291.mp4", "video", lambda d: write_clip(d, big, pix_fmt="yuv444p"),
          valid=True, face=True)
    b.add("r4_odd_513x291.avi", "video",
          lambda d: write_clip(d, big, codec="mjpeg", pix_fmt="yuvj420p", fmt="avi", audio=None),
          valid=True, face=True)
    b.add("r4_yuvj420p.mp4", "video", lambda d: write_clip(d, frames[:6], pix_fmt="yuvj420p"),
          valid=True, face=True)
    b.add("r4_res_change.ts", "video", lambda d: _res_change(d, frames), valid=True, face=True)
    b.add("r4_two_video_streams.mkv", "video", lambda d: _two_video_streams(d, frames),
          valid=True, face=True)
    b.add("r4_mp4_trailing_garbage.mp4", "video",
          lambda d: _write(d, files["mp4fs"].read_bytes()
                           + bytes(rng.randrange(256) for _ in range(30_000))),
          valid=True, face=True)
    b.add("r4_raw_h264.h264", "video",
          lambda d: write_clip(d, frames[:6], fmt="h264", audio=None), valid=True, face=True)


# ---------------------------------------------------------------- outputs and eval


def round4_extra_cases(root: Path, files: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """Output paths and ``eval`` label files: (name, argv); ``@OUT@`` is the run's folder."""
    jpg, mp4 = files["jpg"], files["mp4"]
    copy = root / "r4_target_copy.jpg"
    copy.write_bytes(jpg.read_bytes())
    junk_set = root / "r4_existing.faceset"
    junk_set.mkdir(exist_ok=True)
    (junk_set / "notes.txt").write_text("not a faceset\n")
    swap = ["swap", "--method", "mesh", "--source", str(jpg)]
    out = [
        ("r4_swap -o the input itself", [*swap, str(copy), "-o", str(copy)]),
        ("r4_swap -o upper-case .PNG", [*swap, str(jpg), "-o", "@OUT@/fake.PNG"]),
        ("r4_swap -o no suffix", [*swap, str(jpg), "-o", "@OUT@/fake"]),
        ("r4_swap -o .jpeg", [*swap, str(jpg), "-o", "@OUT@/fake.jpeg"]),
        ("r4_swap -o name too long", [*swap, str(jpg), "-o", "@OUT@/" + "f" * 300 + ".png"]),
        ("r4_swap video -o .mkv", [*swap, str(mp4), "-o", "@OUT@/fake.mkv"]),
        ("r4_swap video -o .gif", [*swap, str(mp4), "-o", "@OUT@/fake.gif"]),
        ("r4_swap video -o empty name", [*swap, str(mp4), "-o", ""]),
        ("r4_extract -o existing non-FaceSet folder",
         ["extract", str(jpg), "-o", str(junk_set)]),
        ("r4_extract -o name too long", ["extract", str(jpg), "-o", "@OUT@/" + "e" * 300]),
        ("r4_detect --report = --json-out",
         ["detect", str(jpg), "--report", "@OUT@/same", "--json-out", "@OUT@/same"]),
        ("r4_detect --report name too long",
         ["detect", str(jpg), "--report", "@OUT@/" + "r" * 300 + ".html"]),
        ("r4_detect empty path", ["detect", ""]),
    ]
    return out + _eval_files(root, files)


def _eval_files(root: Path, files: dict[str, Path]) -> list[tuple[str, list[str]]]:
    jpg, wav, png = files["jpg"], files["wav"], files["png"]
    specs: dict[str, bytes] = {
        "no_header": f"{jpg},0\n{png},1\n".encode(),
        "label_2": f"path,label\n{jpg},0\n{png},2\n".encode(),
        "label_word": f"path,label\n{jpg},real\n{png},maybe\n".encode(),
        "label_empty": f"path,label\n{jpg},\n{png},1\n".encode(),
        "label_half": f"path,label\n{jpg},0.5\n{png},1\n".encode(),
        "one_class": f"path,label\n{jpg},0\n{png},0\n".encode(),
        "all_missing": f"path,label\n{root}/nope1.jpg,0\n{root}/nope2.jpg,1\n".encode(),
        "empty": b"",
        "header_only": b"path,label\n",
        "bom_crlf": f"\ufeffpath,label\r\n{jpg},0\r\n{png},1\r\n".encode(),
        "semicolon": f"path;label\n{jpg};0\n{png};1\n".encode(),
        "upper_header": f"Path,Label\n{jpg},0\n{png},1\n".encode(),
        "dir_row": f"path,label\n{root},0\n{png},1\n".encode(),
        "spaces": f"path , label\n {jpg} , 0\n{png},1 \n".encode(),
        "short_rows": f"path,label\n{jpg}\n{png},1\n".encode(),
        "audio_one_class": f"path,label\n{wav},1\n{wav},1\n".encode(),
        "utf16": f"path,label\n{jpg},0\n{png},1\n".encode("utf-16"),
        "latin1_path": b"path,label\n/tmp/caf\xe9.jpg,0\n" + f"{png},1\n".encode(),
    }
    out = []
    for name, body in specs.items():
        f = root / f"r4_labels_{name}.csv"
        f.write_bytes(body)
        out.append((f"r4_eval {name}", ["eval", str(f), "--out", "@OUT@/eval", "--frames", "4"]))
    return out


def add_round4(b: _Builder, files: dict[str, Path]) -> None:
    """Add every round-4 file case to ``b`` (``files``: the corpus's valid base files)."""
    _paths(b, files)
    _images(b, files)
    _audio(b, files)
    _video(b, files)
