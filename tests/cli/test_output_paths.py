"""Output paths that cannot work are refused, with one line, before any work is done."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doppelab.cli.main import main


@pytest.fixture()
def photo(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "photo.jpg"
    Image.fromarray(astronaut).save(path, quality=90)
    return path


def _one_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"doppelab {command}: error: "), err
    return err[0]


@pytest.mark.parametrize("case", ["same", "input", "too_long", "folder"])
def test_exception_detect_report_paths(tmp_path: Path, photo: Path, case: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = photo.read_bytes()
    args = {
        "same": ["--report", str(tmp_path / "r"), "--json-out", str(tmp_path / "." / "r")],
        "input": ["--report", str(photo)],
        "too_long": ["--report", str(tmp_path / ("r" * 300 + ".html"))],
        "folder": ["--json-out", str(tmp_path)],
    }[case]
    code = main(["detect", str(photo), *args])
    assert code == (5 if case in ("too_long", "folder") else 2)
    _one_error(capsys, "detect")
    assert photo.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_exception_swap_output_is_an_input(tmp_path: Path, photo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``-o`` naming the target (or the source) would replace the original with the fake."""
    before = photo.read_bytes()
    source = tmp_path / "source.jpg"
    source.write_bytes(before)
    assert main(["swap", "--method", "mesh", "--source", str(source), str(photo),
                 "-o", str(photo)]) == 2
    assert "would overwrite the input" in _one_error(capsys, "swap")
    assert main(["swap", "--method", "mesh", "--source", str(source), str(photo),
                 "-o", str(tmp_path / "." / "source.jpg")]) == 2
    _one_error(capsys, "swap")
    assert photo.read_bytes() == before == source.read_bytes()


def test_name_too_long_anywhere_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The net in ``main``: an ENAMETOOLONG no library check caught is still one line."""
    import errno

    from doppelab.cli import verify

    def too_long(args: object) -> int:
        raise OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300)

    monkeypatch.setattr(verify, "run", too_long)
    assert main(["verify", "whatever.jpg"]) == 3
    assert "file name too long" in _one_error(capsys, "verify")


@pytest.mark.parametrize("command", ["detect --json-out", "detect --report", "swap -o"])
def test_exception_output_is_a_fifo(tmp_path: Path, photo: Path, command: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An output path that is a FIFO (or a device such as /dev/null) is refused: the atomic
    write's rename replaced the node with a regular file (fuzz round 5)."""
    import os
    import stat

    node = tmp_path / ("out.png" if command == "swap -o" else "out.json")
    os.mkfifo(node)
    args = {
        "detect --json-out": ["detect", str(photo), "--json-out", str(node)],
        "detect --report": ["detect", str(photo), "--report", str(node)],
        "swap -o": ["swap", "--method", "mesh", "--source", str(photo), str(photo),
                    "-o", str(node)],
    }[command]
    assert main(args) == 5
    assert "not a regular file" in _one_error(capsys, command.split()[0])
    assert stat.S_ISFIFO(node.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["photo.jpg", node.name])
