"""Round 6 of the fuzz corpus (``bench/fuzz_corpus.py``): seeded mass mutation.

Rounds 1-5 were mostly hand-made cases. Round 6 takes 15 small valid seed files, made with the
earlier rounds' builders (the astronaut face clip and photo, the synthetic speech-like signal):
MP4 (H.264+AAC), MKV (VP8+Opus), WebM (VP9+Opus), AVI (MJPEG), MOV (H.264+AAC), MPEG-TS
(H.264+AAC), JPEG, PNG, WebP, GIF, WAV, FLAC, MP3, Ogg Vorbis and M4A (AAC), and makes about 26
mutants of each with a fixed-seed ``numpy`` Generator (seed ``6000 + index of the seed file``, so
adding a seed file never changes the mutants of the others). The operators:

* ``trunc``: truncation at a random offset, three of five in the first 4 KiB (the header);
* ``fliphead``: 1-8 single-bit flips in the first 4 KiB (container headers);
* ``flipbody``: 4-64 bit flips after the first 4 KiB (the payload; the whole file if smaller);
* ``del``, ``dup``, ``zero``: a random byte range (16 B to an eighth of the file) deleted,
  inserted again right after itself, or zeroed;
* ``swap``: two non-overlapping chunks of the same random length exchanged;
* ``size``: a length, size or count field located by a small parser of the format (ISO-BMFF
  atom sizes and sample-table entry counts, RIFF chunk sizes and AVI/WAV header fields, PNG
  chunk lengths and IHDR sizes, EBML element sizes, FLAC metadata block lengths, JPEG segment
  lengths and SOF sizes, GIF screen and image sizes, the ID3 size and Xing frame count, PES
  packet lengths, Ogg granule positions and the Vorbis rate) overwritten with 0, all ones
  (0xFFFFFFFF for a 4-byte field) and the largest positive signed value (0x7FFFFFFF); two
  fields per file, one in the first 4 KiB when there is one.

Cases are named ``r6_<seed>_<operator>_<k>.<ext>`` (``bench/fuzz_inputs.py --only '^r6_'`` runs
them) and keep the family of their seed; the unmutated seeds are valid cases
(``r6_<seed>_seed.<ext>``). :data:`ROUND6_COMMANDS` are the commands run on them, per family
(``detect`` on every case; ``extract``, ``verify`` and ``swap`` with the case as target on images
and videos, and as the source face on images; ``detect --reference`` on audio, checking a WAV with
speech against the mutant).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from fuzz_corpus import RATE, _Builder, _frames, astronaut, speech_like, write_audio
from fuzz_corpus3 import write_clip

__all__ = ["ROUND6_COMMANDS", "add_round6", "mutants"]

ROUND6_COMMANDS = {
    "image": frozenset({"detect", "extract", "verify", "swap target", "swap source"}),
    "video": frozenset({"detect", "extract", "verify", "swap target"}),
    "audio": frozenset({"detect", "detect --reference"}),
}
HEAD = 4096
Field = tuple[int, int, str]  # offset, width in bytes, encoding: "be", "le" or "vint" (EBML)


# ---------------------------------------------------------------- seed files


def _gif(dst: Path) -> Path:
    frames = [Image.fromarray(f).convert("P") for f in _frames(4)]
    frames[0].save(dst, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return dst


def _image(fmt: str, **kw: object) -> Callable[[Path], Path]:
    def make(dst: Path) -> Path:
        Image.fromarray(astronaut(256)).save(dst, fmt, **kw)
        return dst
    return make


def speech_signal() -> np.ndarray:
    """0.1 s of silence, then 2 s of the speech-like signal: without the lead-in the voice
    activity detector finds no speech in it, and the speech model would never run."""
    return np.concatenate([np.zeros(RATE // 10, np.float32), speech_like(2.0)])


def _seeds() -> list[tuple[str, str, str, Callable[[Path], Path]]]:
    """(key, family, suffix, maker) of every seed file."""
    six = _frames(6)
    sig = speech_signal()
    return [
        ("mp4", "video", ".mp4", lambda d: write_clip(d, six)),
        ("mkv", "video", ".mkv", lambda d: write_clip(d, six, codec="libvpx", fmt="matroska",
                                                      audio="libopus")),
        ("webm", "video", ".webm", lambda d: write_clip(d, six, codec="libvpx-vp9", fmt="webm",
                                                        audio="libopus")),
        ("avi", "video", ".avi", lambda d: write_clip(d, six, codec="mjpeg", pix_fmt="yuvj420p",
                                                      fmt="avi", audio="pcm_s16le")),
        ("mov", "video", ".mov", lambda d: write_clip(d, six, fmt="mov")),
        ("ts", "video", ".ts", lambda d: write_clip(d, six, fmt="mpegts")),
        ("jpg", "image", ".jpg", _image("JPEG", quality=85)),
        ("png", "image", ".png", _image("PNG")),
        ("webp", "image", ".webp", _image("WEBP")),
        ("gif", "image", ".gif", _gif),
        ("wav", "audio", ".wav", lambda d: write_audio(d, sig)),
        ("flac", "audio", ".flac", lambda d: write_audio(d, sig, codec="flac")),
        ("mp3", "audio", ".mp3", lambda d: write_audio(d, sig, codec="libmp3lame")),
        ("ogg", "audio", ".ogg", lambda d: write_audio(d, sig, codec="libvorbis", fmt="ogg")),
        ("m4a", "audio", ".m4a", lambda d: write_audio(d, sig, rate=RATE, codec="aac",
                                                       fmt="ipod")),
    ]


# ---------------------------------------------------------------- size fields


_BMFF_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"dinf",
                    b"mvex", b"moof", b"traf"}
_BMFF_COUNTS = {b"stts": 12, b"stsc": 12, b"stsz": 16, b"stco": 12, b"co64": 12, b"stss": 12,
                b"ctts": 12, b"elst": 12}


def _bmff(data: bytes, lo: int = 0, hi: int | None = None, depth: int = 0) -> list[Field]:
    """Atom sizes (and sample-table entry counts) of an ISO-BMFF file."""
    out: list[Field] = []
    pos, hi = lo, len(data) if hi is None else hi
    while pos + 8 <= hi:
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        out.append((pos, 4, "be"))
        if kind in _BMFF_COUNTS and pos + _BMFF_COUNTS[kind] + 4 <= hi:
            out.append((pos + _BMFF_COUNTS[kind], 4, "be"))
        if size < 8:
            break
        if kind in _BMFF_CONTAINERS and depth < 8:
            out += _bmff(data, pos + 8, min(hi, pos + size), depth + 1)
        pos += size
    return out


_RIFF_FIELDS = {b"avih": (16, 32, 36), b"strh": (32,), b"fmt ": (4, 8)}


def _riff(data: bytes) -> list[Field]:
    """RIFF chunk sizes, and the frame count, sizes and rates of AVI and WAV headers."""
    out: list[Field] = [(4, 4, "le")]

    def walk(lo: int, hi: int, depth: int) -> None:
        pos = lo
        while pos + 8 <= hi:
            kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
            out.append((pos + 4, 4, "le"))
            out.extend((pos + 8 + k, 4, "le") for k in _RIFF_FIELDS.get(kind, ())
                       if pos + 12 + k <= hi)
            if kind == b"LIST" and depth < 4:
                walk(pos + 12, min(hi, pos + 8 + size), depth + 1)
            pos += 8 + size + (size & 1)

    walk(12, len(data), 0)
    return out


def _png(data: bytes) -> list[Field]:
    out: list[Field] = [(16, 4, "be"), (20, 4, "be")]  # IHDR width, height
    pos = 8
    while pos + 8 <= len(data):
        out.append((pos, 4, "be"))
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
    return out


_EBML_IDS = (b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x11\x4d\x9b\x74", b"\x15\x49\xa9\x66",
             b"\x16\x54\xae\x6b", b"\x1f\x43\xb6\x75", b"\x1c\x53\xbb\x6b", b"\x63\xa2")


def _ebml(data: bytes) -> list[Field]:
    """The size of every EBML header, Segment, SeekHead, Info, Tracks, Cluster, Cues and
    CodecPrivate element (variable-length integers)."""
    out: list[Field] = []
    for ident in _EBML_IDS:
        pos = data.find(ident)
        while pos >= 0 and pos + len(ident) < len(data):
            at = pos + len(ident)
            width = 9 - data[at].bit_length() if data[at] else 0
            if 1 <= width <= 8 and at + width <= len(data):
                out.append((at, width, "vint"))
            pos = data.find(ident, pos + 1)
    return out


def _flac(data: bytes) -> list[Field]:
    out: list[Field] = []
    pos = 4
    while pos + 4 <= len(data):
        out.append((pos + 1, 3, "be"))
        if data[pos] & 0x80:
            break
        pos += 4 + int.from_bytes(data[pos + 1:pos + 4], "big")
    return out


def _jpeg(data: bytes) -> list[Field]:
    out: list[Field] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        out.append((pos + 2, 2, "be"))
        if marker in (0xC0, 0xC1, 0xC2):
            out += [(pos + 5, 2, "be"), (pos + 7, 2, "be")]  # height, width
        if marker == 0xDA:
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return out


def _gif_fields(data: bytes) -> list[Field]:
    out: list[Field] = [(6, 2, "le"), (8, 2, "le")]
    at = data.find(b"\x00\x2c", 13) + 1
    if at > 0:
        out += [(at + k, 2, "le") for k in (1, 3, 5, 7)]
    return out


def _mp3(data: bytes) -> list[Field]:
    out: list[Field] = [(6, 4, "be")] if data[:3] == b"ID3" else []
    for tag in (b"Xing", b"Info"):
        at = data.find(tag)
        if at >= 0:
            out += [(at + 8, 4, "be"), (at + 12, 4, "be")]  # frames, bytes
    return out


def _ts(data: bytes) -> list[Field]:
    out: list[Field] = []
    for sid in (b"\x00\x00\x01\xe0", b"\x00\x00\x01\xc0"):
        pos = data.find(sid)
        while pos >= 0 and len(out) < 64:
            out.append((pos + 4, 2, "be"))
            pos = data.find(sid, pos + 1)
    return out


def _ogg(data: bytes) -> list[Field]:
    out: list[Field] = []
    pos = data.find(b"OggS")
    while pos >= 0:
        out.append((pos + 6, 8, "le"))
        pos = data.find(b"OggS", pos + 1)
    at = data.find(b"\x01vorbis")
    if at >= 0:
        out.append((at + 12, 4, "le"))
    return out


_FIELDS: dict[str, Callable[[bytes], list[Field]]] = {
    "mp4": _bmff, "mov": _bmff, "m4a": _bmff, "avi": _riff, "wav": _riff, "webp": _riff,
    "png": _png, "mkv": _ebml, "webm": _ebml, "flac": _flac, "jpg": _jpeg, "gif": _gif_fields,
    "mp3": _mp3, "ts": _ts, "ogg": _ogg,
}


def _extremes(width: int, kind: str) -> list[bytes]:
    """0, all ones and the largest positive signed value, in ``width`` bytes."""
    if kind == "vint":  # marker bit, then the value: 0, all ones (unknown size), all ones - 1
        bits = 7 * width
        return [(v | 1 << bits).to_bytes(width, "big")
                for v in (0, (1 << bits) - 1, (1 << bits) - 2)]
    order = "big" if kind == "be" else "little"
    return [v.to_bytes(width, order)  # type: ignore[arg-type]
            for v in (0, (1 << 8 * width) - 1, (1 << (8 * width - 1)) - 1)]


# ---------------------------------------------------------------- operators


def _span(rng: np.random.Generator, n: int) -> tuple[int, int]:
    length = int(rng.integers(16, max(17, n // 8)))
    start = int(rng.integers(0, max(1, n - length)))
    return start, min(n, start + length)


def _flips(rng: np.random.Generator, data: bytes, lo: int, hi: int, count: int) -> bytes:
    buf = bytearray(data)
    hi = min(hi, len(buf))
    lo = 0 if lo >= hi else lo
    for _ in range(count):
        i = int(rng.integers(lo, hi))
        buf[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(buf)


def _swap(rng: np.random.Generator, data: bytes) -> bytes:
    n = len(data)
    length = int(rng.integers(16, max(17, n // 6)))
    a = int(rng.integers(0, max(1, n // 2 - length)))
    b = int(rng.integers(min(n - length, a + length), max(a + length + 1, n - length)))
    return data[:a] + data[b:b + length] + data[a + length:b] + data[a:a + length] + \
        data[b + length:]


def mutants(key: str, data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Every mutant of the seed file ``data`` (its key names the format): (name, bytes)."""
    rng = np.random.default_rng(seed)
    n, head = len(data), min(HEAD, len(data))
    out: list[tuple[str, bytes]] = []
    for k in range(5):
        cut = int(rng.integers(1, head)) if k < 3 else int(rng.integers(head, n))
        out.append((f"trunc_{k}", data[:cut]))
    for k in range(4):
        out.append((f"fliphead_{k}", _flips(rng, data, 0, head, int(rng.integers(1, 9)))))
    for k in range(3):
        out.append((f"flipbody_{k}", _flips(rng, data, HEAD, n, int(rng.integers(4, 65)))))
    for k in range(2):
        a, b = _span(rng, n)
        out.append((f"del_{k}", data[:a] + data[b:]))
        a, b = _span(rng, n)
        out.append((f"dup_{k}", data[:b] + data[a:b] + data[b:]))
        a, b = _span(rng, n)
        out.append((f"zero_{k}", data[:a] + bytes(b - a) + data[b:]))
        out.append((f"swap_{k}", _swap(rng, data)))
    fields = _FIELDS[key](data)
    early = [f for f in fields if f[0] < HEAD]
    picked = [early[int(rng.integers(len(early)))]] if early else []
    rest = [f for f in fields if f not in picked]
    picked += [rest[int(rng.integers(len(rest)))]] if rest else []
    for k, (pos, width, kind) in enumerate(picked):
        for value, patch in zip(("0", "max", "smax"), _extremes(width, kind), strict=True):
            out.append((f"size{k}{value}_{pos}", data[:pos] + patch + data[pos + width:]))
    return out


def add_round6(b: _Builder, files: dict[str, Path]) -> None:
    """Add the round-6 seeds (valid cases) and their mutants to ``b``; ``files["r6_probe"]``
    is a WAV with detectable speech, the file ``detect --reference MUTANT`` checks (with no
    speech in it the reference would never be read)."""
    src = b.root.parent / "base" / "r6"
    src.mkdir(parents=True, exist_ok=True)
    files["r6_probe"] = write_audio(src / "probe.wav", speech_signal())
    for index, (key, family, suffix, make) in enumerate(_seeds()):
        try:
            seed_file = make(src / f"seed{suffix}")
        except Exception as exc:  # a seed this machine cannot make is recorded, not fatal
            b.skip(f"r6_{key}_seed{suffix}", family, f"{type(exc).__name__}: {exc}")
            continue
        data = seed_file.read_bytes()
        b.add(f"r6_{key}_seed{suffix}", family,
              lambda d, s=data: (d.write_bytes(s), d)[1], valid=True, face=family != "audio")
        for name, mutated in mutants(key, data, 6000 + index):
            b.add(f"r6_{key}_{name}{suffix}", family,
                  lambda d, m=mutated: (d.write_bytes(m), d)[1])
