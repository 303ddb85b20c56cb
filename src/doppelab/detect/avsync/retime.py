"""Re-time or replace a video's audio track without re-encoding anything (packet copy).

Used to make test and benchmark material with a known offset: :func:`retime_audio` moves every
audio packet's timestamps by ``shift_s`` seconds (positive = audio later; packets that would start
before 0 are dropped), and :func:`swap_audio` pairs one file's video with another file's audio.
The video packets are copied bit for bit, so the face track of the original still applies.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from doppelab.core.errors import NotMediaError, TruncatedMediaError
from doppelab.core.media import check_readable
from doppelab.core.storage import atomic_path


def _open(path: Path) -> av.container.InputContainer:
    check_readable(path)
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise TruncatedMediaError(f"cannot open {path} ({exc})") from None


def _remux(video_src: Path, audio_src: Path, dst: Path, shift_s: float) -> None:
    with _open(video_src) as vin, _open(audio_src) as ain, atomic_path(dst) as tmp:
        if not vin.streams.video:
            raise NotMediaError(f"no video stream: {video_src}")
        if not ain.streams.audio:
            raise NotMediaError(f"no audio stream: {audio_src}")
        vs, as_ = vin.streams.video[0], ain.streams.audio[0]
        with av.open(str(tmp), "w", format="mp4") as out:
            ov = out.add_stream_from_template(vs)
            oa = out.add_stream_from_template(as_)
            for pkt in vin.demux(vs):
                if pkt.dts is None:
                    continue
                pkt.stream = ov
                out.mux(pkt)
            tb = as_.time_base or Fraction(1, as_.sample_rate or 48_000)
            delta = round(shift_s / tb)
            for pkt in ain.demux(as_):
                if pkt.dts is None or pkt.pts is None:
                    continue
                pkt.pts += delta
                pkt.dts += delta
                if pkt.pts < 0:
                    continue
                pkt.stream = oa
                out.mux(pkt)


def retime_audio(src: Path, dst: Path, shift_s: float) -> None:
    """Copy ``src`` to ``dst`` (MP4) with its audio ``shift_s`` seconds later (earlier if < 0).

    Raises:
        InputError subclasses: unreadable ``src``, no video or no audio stream.
        OutputError: ``dst`` cannot be written (nothing is left half-written).
    """
    _remux(src, src, dst, shift_s)


def swap_audio(video_src: Path, audio_src: Path, dst: Path) -> None:
    """Write ``dst`` (MP4) with the video of ``video_src`` and the audio of ``audio_src``."""
    _remux(video_src, audio_src, dst, 0.0)
