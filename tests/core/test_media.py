"""Tests for doppelab.core.media / media_write. Every input is generated here, in tmp_path."""

from __future__ import annotations

import contextlib
import csv
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from doppelab.core.errors import (
    DimensionsTooLargeError,
    EmptyFileError,
    FileAccessError,
    InputError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
    UsageError,
)
from doppelab.core.media import (
    VideoWriter,
    check_readable,
    iter_frames,
    media_id,
    probe,
    read_image,
    write_image,
)
from doppelab.core.media_video import plausible_fps
from doppelab.core.media_write import conform_frame

W, H, N, FPS = 64, 48, 10, 25
REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("DOPPELAB_DATA", REPO.parent / "shared" / "data"))


# ---------------------------------------------------------------------------------------------
# Input builders


def _frames(n: int = N, w: int = W, h: int = H) -> list[np.ndarray]:
    """A red square moving right over grey, with a white marker in the top-left corner."""
    out = []
    for i in range(n):
        a = np.full((h, w, 3), 60, np.uint8)
        a[16:32, 3 * i : 3 * i + 16] = (220, 40, 40)
        a[:8, :8] = 255
        out.append(a)
    return out


def _sine(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]


def _encode(
    path: Path,
    frames: list[np.ndarray],
    *,
    times: list[float] | None = None,
    audio: str | None = None,
    audio_seconds: float = 1.0,
    codec: str = "libx264",
    faststart: bool = False,
) -> Path:
    """Encode frames (at FPS, or at ``times`` in seconds) plus an optional 440 Hz audio track."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", container_options=options) as out:
        video = out.add_stream(codec, rate=FPS)
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if times is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        sound = None
        if audio is not None:
            sound = out.add_stream(audio, rate=44_100)
            sound.layout = "mono"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = _sine(audio_seconds, 44_100)
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, start : start + 1024]), format="fltp",
                    layout="mono")
                chunk.sample_rate, chunk.pts = 44_100, start
                chunk.time_base = Fraction(1, 44_100)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return path


def _rotate_tkhd(path: Path) -> None:
    """Give the track a phone-style display matrix: show it rotated 90 degrees clockwise."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    offset = at + 8 + (32 if data[at + 4] == 1 else 20) + 16
    struct.pack_into(">9i", data, offset, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, *, depth: int = 8, colour: int = 2, rows: bytes = b"") -> bytes:
    """A hand-made PNG: signature, IHDR (with CRC), optional IDAT, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = _png_chunk(b"IDAT", zlib.compress(rows)) if rows else b""
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + idat + _png_chunk(b"IEND", b"")


def _audio_span(path: Path) -> tuple[str, float, bytes]:
    """(codec, end time of the last audio packet in seconds, first packet bytes)."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        end, first = 0.0, b""
        for packet in c.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            first = first or bytes(packet)
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return stream.codec_context.name, end, first


def _close(a: np.ndarray, b: np.ndarray, tol: float = 8.0) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < tol


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _encode(tmp_path_factory.mktemp("clip") / "clip.mp4", _frames())


@pytest.fixture(scope="module")
def clip_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _encode(tmp_path_factory.mktemp("clip") / "talk.mp4", _frames(), audio="aac")


# ---------------------------------------------------------------------------------------------
# Videos


def test_smoke_probe_video(clip: Path) -> None:
    info = probe(clip)
    assert (info.kind, info.width, info.height, info.frames, info.rotation) == ("video", W, H, N, 0)
    assert info.fps == pytest.approx(FPS) and info.duration == pytest.approx(N / FPS, abs=0.01)
    assert info.video_codec == "h264" and "mp4" in (info.container or "") and info.audio is None


def test_shape_iter_frames_video(clip: Path) -> None:
    frames = list(iter_frames(clip))
    assert [f.ref.index for f in frames] == list(range(N))
    assert [f.ref.timestamp for f in frames] == pytest.approx([i / FPS for i in range(N)])
    assert len({f.ref.media_id for f in frames}) == 1 and frames[0].ref.media_id == media_id(clip)
    for got, want in zip(frames, _frames(), strict=True):
        assert got.image.dtype == np.uint8 and got.image.flags.c_contiguous
        assert _close(got.image, want)


def test_frames_stay_intact_while_referenced(clip: Path) -> None:
    rows = [f.image[16:32] for f in iter_frames(clip)]  # views only: their arrays stay alive
    for got, want in zip(rows, _frames(), strict=True):
        assert _close(got, want[16:32])
    for f, want in zip(iter_frames(clip), _frames(), strict=True):  # dropped: buffers recycle
        assert _close(f.image, want)


def test_iter_frames_every_and_start(clip: Path) -> None:
    assert [f.ref.index for f in iter_frames(clip, every=3)] == [0, 3, 6, 9]
    assert [f.ref.index for f in iter_frames(clip, every=3, start=4)] == [6, 9]
    assert [f.ref.index for f in iter_frames(clip, start=7, threads=1)] == [7, 8, 9]
    with pytest.raises(UsageError):
        iter_frames(clip, every=0)


def test_rotation_display_matrix(tmp_path: Path) -> None:
    path = _encode(tmp_path / "portrait.mp4", _frames(3))
    _rotate_tkhd(path)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (H, W, 90)
    frame = next(iter_frames(path))
    assert frame.image.shape == (W, H, 3)
    assert _close(frame.image, np.rot90(_frames(1)[0], -1))  # marker now top-right


def test_vfr_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.04, 0.1, 0.13, 0.3, 0.31, 0.5, 0.52, 0.7, 0.9]
    path = _encode(tmp_path / "vfr.mp4", _frames(), times=times)
    got = [f.ref.timestamp for f in iter_frames(path)]
    assert got == pytest.approx(times, abs=1e-3)


def test_probe_audio(clip_audio: Path) -> None:
    audio = probe(clip_audio).audio
    assert audio is not None
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 44_100, 1)


def test_truncated_video_with_index_gives_shorter_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(30)]
    data = _encode(tmp_path / "full.mp4", noise, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    n = len(list(iter_frames(cut)))
    assert 0 < n < 30


def test_max_pixels_video(clip: Path) -> None:
    with pytest.raises(DimensionsTooLargeError, match=r"clip\.mp4"):
        probe(clip, max_pixels=W * H - 1)
    with pytest.raises(DimensionsTooLargeError):
        iter_frames(clip, max_pixels=100)


# ---------------------------------------------------------------------------------------------
# Images and folders


@pytest.mark.parametrize(("suffix", "tol"), [(".png", 0.0), (".bmp", 0.0), (".jpg", 4.0),
                                             (".webp", 6.0)])
def test_roundtrip_image(tmp_path: Path, suffix: str, tol: float) -> None:
    image = _frames(1)[0]
    path = tmp_path / f"a{suffix}"
    write_image(path, image, quality=95)
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == (H, W, 3)
    assert float(np.abs(got.astype(int) - image).mean()) <= tol
    info = probe(path)
    assert (info.kind, info.width, info.height, info.frames) == ("image", W, H, 1)
    assert [f.ref.index for f in iter_frames(path)] == [0]
    assert [f.ref.timestamp for f in iter_frames(path)] == [0.0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_write_image_exception(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_image(tmp_path / "a.gif", _frames(1)[0])
    with pytest.raises(UsageError):
        write_image(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    assert not list(tmp_path.iterdir())


def test_exif_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: show rotated 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    Image.fromarray(_frames(1)[0]).save(path, exif=exif.tobytes(), quality=95)
    image = read_image(path)
    assert image.shape == (W, H, 3)
    assert _close(image, np.rot90(_frames(1)[0], -1))
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (H, W, 90)


def test_corrupt_exif_reads_quietly(tmp_path: Path) -> None:
    """A malformed EXIF block: the image still reads as stored, and Pillow's warnings stay
    off stderr (they printed two lines per read)."""
    path = tmp_path / "bad_exif.jpg"
    Image.fromarray(_frames(1)[0]).save(path, quality=95)
    body = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(range(200))
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read_image(path)
        info = probe(path)
    assert image.shape == (H, W, 3) and _close(image, _frames(1)[0])
    assert (info.width, info.height, info.rotation) == (W, H, 0)


def test_image_modes_to_rgb(tmp_path: Path) -> None:
    base = _frames(1)[0]
    Image.fromarray(base[:, :, 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([base, np.full((H, W), 128, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(base).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(np.full((H, W), 40_000, np.uint16)).save(tmp_path / "gray16.png")
    rgb16 = np.zeros((2, 3, 3), ">u2")
    rgb16[...] = (65535, 32768, 0)
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb16)
    (tmp_path / "rgb16.png").write_bytes(_png(3, 2, depth=16, colour=2, rows=rows))
    assert np.array_equal(read_image(tmp_path / "gray.png"), np.repeat(base[:, :, :1], 3, axis=2))
    assert np.array_equal(read_image(tmp_path / "rgba.png"), base)
    assert read_image(tmp_path / "palette.png").shape == (H, W, 3)
    assert np.all(read_image(tmp_path / "gray16.png") == 40_000 >> 8)
    assert np.all(read_image(tmp_path / "rgb16.png") == np.array([255, 128, 0], np.uint8))


def test_misnamed_files_decode_by_content(tmp_path: Path, clip: Path) -> None:
    video = tmp_path / "clip.jpg"
    video.write_bytes(clip.read_bytes())
    assert probe(video).kind == "video" and len(list(iter_frames(video))) == N
    image = tmp_path / "photo.mp4"
    write_image(tmp_path / "photo.png", _frames(1)[0])
    (tmp_path / "photo.png").rename(image)
    assert probe(image).kind == "image" and np.array_equal(next(iter_frames(image)).image,
                                                            _frames(1)[0])


def test_folder_of_images(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    frames = _frames(4)
    for name, image in zip(["c.png", "a.jpg", "b.webp", "d.bmp"], frames, strict=True):
        write_image(folder / name, image)
    (folder / "notes.txt").write_text("not an image")
    got = list(iter_frames(folder))
    assert [f.ref.index for f in got] == [0, 1, 2, 3]
    assert [f.ref.timestamp for f in got] == [0.0, 1.0, 2.0, 3.0]
    assert {f.ref.media_id for f in got} == {media_id(folder)}
    assert _close(got[0].image, frames[1]) and _close(got[2].image, frames[0])  # a.jpg, c.png
    assert [f.ref.index for f in iter_frames(folder, every=2, start=1)] == [2]
    info = probe(folder)
    assert (info.kind, info.frames, info.width, info.height) == ("image", 4, W, H)


def test_folder_skips_bad_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image(tmp_path / "a.png", _frames(1)[0])
    (tmp_path / "b.jpg").write_text("not a jpeg")
    assert [f.ref.index for f in iter_frames(tmp_path)] == [0]
    assert "b.jpg" in caplog.text
    (tmp_path / "a.png").rename(tmp_path / "c.png")  # the bad one first: probe looks further
    assert (probe(tmp_path).frames, probe(tmp_path).width) == (2, W)
    (tmp_path / "c.png").unlink()
    with pytest.raises(NotMediaError):
        list(iter_frames(tmp_path))
    with pytest.raises(NotMediaError):
        probe(tmp_path)


# ---------------------------------------------------------------------------------------------
# Bad inputs: every one raises its typed error, naming the path


def _truncated_mp4(d: Path) -> Path:
    data = _encode(d / "full.mp4", _frames()).read_bytes()  # index (moov) at the end: cut off
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])
    return d / "cut.mp4"


def _truncated_jpeg(d: Path) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(d / "full.jpg")
    data = (d / "full.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 2])
    return d / "cut.jpg"


def _unknown_codec(d: Path) -> Path:
    data = _encode(d / "m.avi", _frames(3), codec="mpeg4").read_bytes()
    (d / "odd.avi").write_bytes(data.replace(b"FMP4", b"QZQZ"))  # a FourCC no decoder knows
    return d / "odd.avi"


def _audio_only(d: Path) -> Path:
    with av.open(str(d / "voice.mp4"), "w") as out:
        sound = out.add_stream("aac", rate=44_100)
        frame = av.AudioFrame.from_ndarray(_sine(0.1, 44_100), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44_100, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return d / "voice.mp4"


def _video_named_jpg(d: Path) -> Path:
    data = _encode(d / "v.mp4", _frames(2)).read_bytes()
    (d / "v.jpg").write_bytes(data)
    return d / "v.jpg"


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return make


_RANDOM = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
_ALL = ("probe", "iter_frames")
_IMG = ("probe", "iter_frames", "read_image")
BAD: dict[str, tuple[Callable[[Path], Path], type[InputError], tuple[str, ...]]] = {
    "missing": (lambda d: d / "nope.mp4", FileAccessError, _ALL),
    "missing_image": (lambda d: d / "nope.jpg", FileAccessError, _IMG),
    "directory_as_image": (lambda d: d, FileAccessError, ("read_image",)),
    "empty_folder": (lambda d: d, NotMediaError, _ALL),
    "zero_bytes_mp4": (_write("z.mp4", b""), EmptyFileError, _ALL),
    "zero_bytes_jpg": (_write("z.jpg", b""), EmptyFileError, _IMG),
    "text_named_mp4": (_write("t.mp4", b"hello, this is text\n" * 50), NotMediaError, _ALL),
    "text_named_jpg": (_write("t.jpg", b"hello, this is text\n" * 50), NotMediaError, _IMG),
    "random_bytes_mp4": (_write("r.mp4", _RANDOM), NotMediaError, _ALL),
    "random_bytes_png": (_write("r.png", _RANDOM), NotMediaError, _IMG),
    "truncated_mp4": (_truncated_mp4, TruncatedMediaError, _ALL),
    "truncated_jpeg": (_truncated_jpeg, TruncatedMediaError, ("iter_frames", "read_image")),
    "huge_png_header": (_write("bomb.png", _png(60_000, 60_000)), DimensionsTooLargeError, _IMG),
    "big_png_header": (_write("big.png", _png(9_000, 9_000)), DimensionsTooLargeError, _IMG),
    "unknown_codec": (_unknown_codec, UnsupportedCodecError, _ALL),
    "audio_only_mp4": (_audio_only, NotMediaError, _ALL),
    "video_as_image": (_video_named_jpg, NotMediaError, ("read_image",)),
}


def _call(reader: str, path: Path) -> None:
    if reader == "probe":
        probe(path)
    elif reader == "read_image":
        read_image(path)
    else:
        list(iter_frames(path))


@pytest.mark.parametrize("case", sorted(BAD))
def test_exception_bad_input(tmp_path: Path, case: str) -> None:
    make, error, readers = BAD[case]
    path = make(tmp_path)
    for reader in readers:
        with pytest.raises(error) as info:
            _call(reader, path)
        assert type(info.value) is error, reader
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_exception_no_permission(tmp_path: Path) -> None:
    path = _write("locked.jpg", b"\xff\xd8\xff" + b"\0" * 100)(tmp_path)
    path.chmod(0)
    try:
        with contextlib.suppress(PermissionError), open(path, "rb"):
            pytest.skip(f"this user (euid {os.geteuid()}) can read mode-000 files, e.g. root")
        for reader in _IMG:
            with pytest.raises(FileAccessError):
                _call(reader, path)
    finally:
        path.chmod(0o644)


def test_check_readable(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        check_readable(tmp_path)
    with pytest.raises(FileAccessError):
        check_readable(tmp_path / "missing")
    with pytest.raises(EmptyFileError):
        check_readable(_write("e.png", b"")(tmp_path))
    check_readable(_write("f.png", b"x")(tmp_path))


def test_media_id(tmp_path: Path) -> None:
    path = _write("a.bin", b"abc")(tmp_path)
    first = media_id(path)
    assert len(first) == 16 and int(first, 16) >= 0 and media_id(str(path)) == first
    os.utime(path, ns=(1, 1_000_000_000))
    assert media_id(path) != first
    with pytest.raises(FileAccessError):
        media_id(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------
# VideoWriter


def test_roundtrip_video_writer(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=FPS, width=W, height=H) as writer:
        for image in _frames():
            writer.write(image)
    info = probe(out)
    assert (info.frames, info.width, info.height, info.audio) == (N, W, H, None)
    assert info.fps == pytest.approx(FPS)
    for got, want in zip(iter_frames(out), _frames(), strict=True):
        assert _close(got.image, want)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_roundtrip_video_writer_vfr(tmp_path: Path) -> None:
    times = [0.0, 0.05, 0.07, 0.2, 0.21, 0.4, 0.45, 0.6, 0.61, 0.8]
    out = tmp_path / "vfr.mkv"
    with VideoWriter(out, fps=FPS, width=W, height=H) as writer:
        for image, t in zip(_frames(), times, strict=True):
            writer.write(image, t)
    assert [f.ref.timestamp for f in iter_frames(out)] == pytest.approx(times, abs=2e-3)


def test_video_writer_copies_audio(tmp_path: Path, clip_audio: Path) -> None:
    out = tmp_path / "dub.mp4"
    with VideoWriter(out, fps=FPS, width=W, height=H, audio_from=clip_audio) as writer:
        for image in _frames()[:5]:  # 0.2 s of video from a 1 s audio track
            writer.write(image)
    codec, end, first = _audio_span(out)
    assert codec == "aac" and end == pytest.approx(5 / FPS, abs=0.03)
    assert first == _audio_span(clip_audio)[2]  # stream copy: the packets are the source's
    assert probe(out).duration == pytest.approx(5 / FPS, abs=0.05)


def test_video_writer_reencodes_audio(tmp_path: Path) -> None:
    source = _encode(tmp_path / "pcm.mkv", _frames(), audio="pcm_s16le", audio_seconds=0.5)
    out = tmp_path / "dub.mp4"
    with VideoWriter(out, fps=FPS, width=W, height=H, audio_from=source) as writer:
        for image in _frames():
            writer.write(image)
    codec, end, _ = _audio_span(out)
    assert codec == "aac" and end == pytest.approx(N / FPS, abs=0.05)


def test_video_writer_leaves_nothing_on_error(tmp_path: Path, clip_audio: Path) -> None:
    out = tmp_path / "never.mp4"
    with pytest.raises(RuntimeError), VideoWriter(
        out, fps=FPS, width=W, height=H, audio_from=clip_audio
    ) as writer:
        writer.write(_frames(1)[0])
        raise RuntimeError("boom")
    with pytest.raises(UsageError), VideoWriter(out, fps=FPS, width=W, height=H) as writer:
        writer.write(_frames(1)[0], 0.5)
        writer.write(_frames(1)[0], 0.5)  # timestamps must increase
    with pytest.raises(UsageError), VideoWriter(out, fps=FPS, width=W, height=H) as writer:
        writer.write(np.zeros((H, W + 2, 3), np.uint8))
    with pytest.raises(UsageError), VideoWriter(out, fps=FPS, width=W, height=H):
        pass  # no frames: no video
    assert not list(tmp_path.iterdir())


def test_video_writer_exception(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        VideoWriter(tmp_path / "odd.mp4", fps=FPS, width=W + 1, height=H)
    with pytest.raises(UsageError):
        VideoWriter(tmp_path / "a.mp4", fps=0, width=W, height=H)
    with pytest.raises(UsageError):
        VideoWriter(tmp_path / "a.mp4", fps=FPS, width=W, height=H).write(_frames(1)[0])
    with pytest.raises(FileAccessError):
        VideoWriter(tmp_path / "a.mp4", fps=FPS, width=W, height=H,
                    audio_from=tmp_path / "missing.mp4").__enter__()
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Real clips (shared data)


@pytest.mark.data
def test_real_clip() -> None:
    table = DATA / "clips.csv"
    if not table.is_file():
        pytest.skip(f"shared data not found at {DATA} (set DOPPELAB_DATA)")
    with open(table, newline="") as fh:
        row = min(csv.DictReader(fh), key=lambda r: int(r["width"]) * int(r["frames"]))
    path = DATA / row["file"]
    info = probe(path)
    assert (info.width, info.height) == (int(row["width"]), int(row["height"]))
    assert info.fps == pytest.approx(float(row["fps"]), rel=1e-3)
    assert (info.audio is not None) == (row["audio"] == "yes")
    frames = list(iter_frames(path, every=5))
    assert frames[-1].ref.index >= int(row["frames"]) - 5
    assert all(f.image.shape == (info.height, info.width, 3) for f in frames)


def test_two_video_streams_read_the_largest(tmp_path: Path) -> None:
    """A small preview track first, the main picture second: the main one is read."""
    path = tmp_path / "two.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        small, big = out.add_stream("libx264", rate=10), out.add_stream("libx264", rate=10)
        for st, (w, h) in ((small, (64, 48)), (big, (128, 96))):
            st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for _ in range(3):
            for st, value in ((small, 30), (big, 200)):
                img = np.full((st.height, st.width, 3), value, np.uint8)
                for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(pkt)
        for st in (small, big):
            for pkt in st.encode():
                out.mux(pkt)
    info = probe(path)
    assert (info.width, info.height) == (128, 96)
    frames = list(iter_frames(path))
    assert frames[0].image.shape == (96, 128, 3) and abs(int(frames[0].image.mean()) - 200) < 8


@pytest.mark.parametrize("name", ["i" * 300 + ".jpg", "d" * 256 + "/x.jpg"])
def test_exception_input_name_too_long(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileAccessError, match="too long"):
        probe(tmp_path / name)
    with pytest.raises(FileAccessError, match="too long"):
        iter_frames(tmp_path / name)


def test_implausible_frame_rate_is_unknown(tmp_path: Path, clip: Path) -> None:
    """``stts`` deltas of 2^31 claim 5e-6 frames a second: fps is unknown (None), and the
    video writer refuses such a rate with a typed error (it used to divide by zero)."""
    data = bytearray(clip.read_bytes())
    pos = data.index(b"stts") - 4
    for k in range(struct.unpack(">I", data[pos + 12:pos + 16])[0]):
        data[pos + 20 + 8 * k:pos + 24 + 8 * k] = struct.pack(">I", 1 << 31)
    broken = tmp_path / "broken_timing.mp4"
    broken.write_bytes(bytes(data))
    assert probe(broken).fps is None
    assert plausible_fps(Fraction(5, 1048576)) is None and plausible_fps(Fraction(30000, 1001))
    with pytest.raises(UsageError):
        VideoWriter(tmp_path / "o.mp4", fps=5 / 1048576, width=16, height=16)


def test_conform_frame_odd_and_changed_size() -> None:
    odd = np.full((291, 513, 3), 90, np.uint8)
    out = conform_frame(odd, (291, 513))
    assert out.shape == (292, 514, 3) and (out == 90).all()  # padded by a copied edge
    same = np.zeros((64, 64, 3), np.uint8)
    assert conform_frame(same, (64, 64)) is same
    wide = np.full((30, 120, 3), 200, np.uint8)  # a later frame of another size: fitted
    fitted = conform_frame(wide, (64, 64))
    assert fitted.shape == (64, 64, 3)
    assert fitted[32, 32].tolist() == [200] * 3 and fitted[0, 32].tolist() == [0] * 3


def _ts_with_audio(path: Path, seconds: float, size: int) -> bytes:
    with av.open(str(path), "w", format="mpegts") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=16_000, layout="mono")
        for _ in range(round(seconds * 10)):
            img = np.full((size, size, 3), 128, np.uint8)
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        t = np.arange(round(seconds * 16_000)) / 16_000
        sig = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        for s in range(0, sig.size, 1024):
            frame = av.AudioFrame.from_ndarray(sig[None, s:s + 1024].copy(), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 16_000, s
            for pkt in aus.encode(frame):
                out.mux(pkt)
        for pkt in aus.encode(None):
            out.mux(pkt)
    return path.read_bytes()


def test_video_writer_audio_whose_time_goes_back(tmp_path: Path) -> None:
    """Two MPEG-TS clips glued together: the audio's timestamps restart midway. Copying it
    used to fail with "cannot encode frame" (EINVAL from the muxer)."""
    glued = tmp_path / "glued.ts"
    glued.write_bytes(_ts_with_audio(tmp_path / "a.ts", 1.0, 64)
                      + _ts_with_audio(tmp_path / "b.ts", 1.0, 48))
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=10, width=64, height=64, audio_from=glued) as writer:
        for k in range(20):
            writer.write(np.full((64, 64, 3), 100, np.uint8), k / 10)
    with av.open(str(out)) as check:
        assert check.streams.audio and check.streams.video[0].frames == 20


def test_frames_without_timestamps_are_timed_by_a_plausible_rate(tmp_path: Path) -> None:
    """A raw H.264 stream carries no timestamps: frames are timed by the stream's rate, and a
    header rate outside MIN_FPS..MAX_FPS would fall back to 25 fps (as probe and the span
    reader do)."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    stamps = [f.ref.timestamp for f in iter_frames(path)]
    assert len(stamps) == 6
    assert np.allclose(np.diff(stamps), 1 / 25)
