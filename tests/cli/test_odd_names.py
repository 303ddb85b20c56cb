"""File names that are not valid UTF-8: commands print and report them instead of crashing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from doppelab.core.media import write_image
from doppelab.core.storage import atomic_write_text

NAME = b"odd_\xff\xfe.png"


@pytest.fixture()
def odd_image(tmp_path: Path) -> Path:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + NAME))
    write_image(path, np.full((32, 32, 3), 120, np.uint8))
    return path


def test_report_text_with_undecodable_name(tmp_path: Path, odd_image: Path) -> None:
    out = tmp_path / "r.json"
    atomic_write_text(out, json.dumps({"path": str(odd_image)}, ensure_ascii=False))
    assert "odd_\\udcff\\udcfe.png" in out.read_bytes().decode("utf-8")  # valid UTF-8


def test_print_under_strict_utf8_locale(odd_image: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    r = subprocess.run([sys.executable, "-m", "doppelab", "verify", os.fsencode(odd_image)],
                       capture_output=True, env=env, timeout=120, check=False)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    assert b"odd_\\udcff\\udcfe.png" in r.stdout


@pytest.mark.parametrize("name", ["broken\nname.jpg", "broken\rname.jpg", "nel\x85name.jpg",
                                  "sep\u2028name.jpg"])
def test_error_stays_one_line_with_line_break_in_name(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.cli.main import main

    bad = tmp_path / name
    bad.write_bytes(b"not an image at all" * 20)
    code = main(["verify", str(bad)])
    err = capsys.readouterr().err
    assert code == 3
    assert len(err.splitlines()) == 1 and err.startswith("doppelab verify: error: "), err


@pytest.mark.parametrize("argv", [["detect", ""], ["verify", ""], ["extract", "", "-o", "out"],
                                  ["detect", "a.png", "--report", ""]])
def test_empty_path_is_refused_not_read_as_the_current_folder(
        tmp_path: Path, argv: list[str]) -> None:
    """``doppelab detect ""`` (an unset shell variable) used to scan the current folder."""
    write_image(tmp_path / "a.png", np.full((32, 32, 3), 120, np.uint8))
    r = subprocess.run([sys.executable, "-m", "doppelab", *argv], capture_output=True,
                       cwd=tmp_path, timeout=120, check=False)
    assert r.returncode == 2, r.stderr.decode(errors="replace")
    assert b"an empty path names no file" in r.stderr.splitlines()[-1]
    assert b"Traceback" not in r.stderr and not (tmp_path / "out").exists()
