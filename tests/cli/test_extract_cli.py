"""CLI behaviour of extract/faces: exit codes, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from doppelab.cli.main import main
from doppelab.core.media import write_image


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doppelab", *args], capture_output=True, text=True, timeout=120
    )


def _huge_png(path: Path, w: int = 60000, h: int = 60000) -> Path:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )
    idat = zlib.compress(b"\x00" * 1000)
    data += (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    path.write_bytes(data)
    return path


def test_help_has_examples_and_exit_codes() -> None:
    r = _run("--help")
    assert r.returncode == 0 and "exit codes" in r.stdout
    r = _run("extract", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "--identity" in r.stdout
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("doppelab ")


def test_usage_error_exit_2(tmp_path: Path) -> None:
    r = _run("extract", "x.mp4")  # missing -o
    assert r.returncode == 2


def test_extract_and_faces(
    astronaut_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.faceset"
    assert main(["extract", str(astronaut_video), "-o", str(out), "--size", "64", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["faces"] == 12 and res["people"] == 1
    assert main(["faces", str(out)]) == 0
    text = capsys.readouterr().out
    assert "12 faces (64 px) of 1 person [p0: 12]" in text
    assert (out / "contact.png").stat().st_size > 1000
    assert main(["faces", str(out), "--json", "--sheet", str(tmp_path / "s.png")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["faces"] == 12 and set(info["quality"]) >= {"blur", "yaw", "eye_open"}


def _bad_inputs(tmp: Path, astronaut_video: Path) -> dict[str, tuple[Path, int, str]]:
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    noise = tmp / "noise.jpg"
    noise.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    data = astronaut_video.read_bytes()
    cut = tmp / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    jpg = tmp / "ok.jpg"
    write_image(jpg, np.full((64, 64, 3), 128, np.uint8))
    cut_jpg = tmp / "cut.jpg"
    cut_jpg.write_bytes(jpg.read_bytes()[:200])
    return {
        "missing": (tmp / "nope.mp4", 3, "nope.mp4"),
        "empty": (empty, 3, "empty"),
        "text": (text, 3, "notes.mp4"),
        "noise": (noise, 3, "noise.jpg"),
        "truncated video": (cut, 3, "cut.mp4"),
        "truncated jpeg": (cut_jpg, 3, "cut.jpg"),
        "huge": (_huge_png(tmp / "huge.png"), 3, "huge.png"),
        "folder without images": (tmp / "emptydir", 3, "emptydir"),
        "no face": (jpg, 4, "no face"),
    }


def test_bad_inputs_exit_cleanly(tmp_path: Path, astronaut_video: Path) -> None:
    (tmp_path / "emptydir").mkdir()
    for name, (path, code, words) in _bad_inputs(tmp_path, astronaut_video).items():
        out = tmp_path / f"{name.replace(' ', '_')}.faceset"
        r = _run("extract", str(path), "-o", str(out))
        assert r.returncode == code, (name, r.returncode, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("doppelab extract: error:"), (name, r.stderr)
        assert words in lines[0], (name, lines[0])
        assert "Traceback" not in r.stderr
        assert not out.exists(), name


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_file(tmp_path: Path, astronaut_video: Path) -> None:
    p = tmp_path / "locked.mp4"
    p.write_bytes(astronaut_video.read_bytes())
    p.chmod(0)
    r = _run("extract", str(p), "-o", str(tmp_path / "l.faceset"))
    assert r.returncode == 3 and "permission" in r.stderr.lower()


def test_unwritable_output(tmp_path: Path, astronaut_video: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _run("extract", str(astronaut_video), "-o", str(blocker / "sub.faceset"))
    assert r.returncode in (5, 1) and "Traceback" not in r.stderr
    assert r.returncode == 5, r.stderr


def test_faces_on_non_faceset(tmp_path: Path) -> None:
    r = _run("faces", str(tmp_path))
    assert r.returncode == 3 and "not a FaceSet" in r.stderr


def test_exception_faces_max_zero_is_usage(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # before: the FaceSet was opened and an empty sheet failed to encode (exit 5)
    assert main(["faces", str(tmp_path / "any.faceset"), "--max", "0"]) == 2
    assert capsys.readouterr().err.strip() == "doppelab faces: error: --max must be >= 1, got 0"


def test_one_face_is_singular(tmp_path: Path, astronaut: np.ndarray,
                              capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    assert main(["extract", str(photo), "-o", str(tmp_path / "one.faceset"), "--size", "64"]) == 0
    assert capsys.readouterr().out.startswith("1 face of 1 person from 1/1 frames")
