"""Label files as spreadsheets write them, and evaluations with nothing to measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.cli.main import main
from doppelab.core.errors import UsageError
from doppelab.detect.evaluate import read_labels

ROWS = [("a.jpg", "0"), ("b.jpg", "fake")]


def _csv(sep: str, eol: str, header: str = "path{sep}label") -> str:
    lines = [header.format(sep=sep)] + [f"{p}{sep}{y}" for p, y in ROWS]
    return eol.join(lines) + eol


@pytest.mark.parametrize("body", [
    b"\xef\xbb\xbf" + _csv(",", "\r\n").encode(),          # Excel: UTF-8 BOM, CRLF
    _csv(",", "\r\n").encode("utf-16"),                     # "Unicode text" with a BOM
    _csv(";", "\n").encode(),                               # a semicolon locale
    _csv("\t", "\n").encode(),
    _csv(",", "\n", header="Path , LABEL").encode(),        # header case and spaces
    b"\n" + _csv(",", "\n\n").encode(),                     # blank lines
])
def test_smoke_spreadsheet_variants(tmp_path: Path, body: bytes) -> None:
    f = tmp_path / "labels.csv"
    f.write_bytes(body)
    rows = read_labels(f)
    assert [(r.path.name, r.label) for r in rows] == [("a.jpg", 0), ("b.jpg", 1)]


def test_roundtrip_latin1_path(tmp_path: Path) -> None:
    """A path in Latin-1 bytes still names the same file on disk."""
    f = tmp_path / "labels.csv"
    f.write_bytes(b"path,label\ncaf\xe9.jpg,1\n")
    (row,) = read_labels(f)
    assert row.path.name.encode("utf-8", "surrogateescape") == b"caf\xe9.jpg"


@pytest.mark.parametrize("body", [b"", b"path,label\n", b"a.jpg,0\nb.jpg,1\n",
                                  b"path,label\na.jpg,2\n", b"path,label\n,1\n",
                                  b"path,label\na.jpg,0\x00\n"])
def test_exception_bad_files(tmp_path: Path, body: bytes) -> None:
    f = tmp_path / "labels.csv"
    f.write_bytes(body)
    with pytest.raises(UsageError):
        read_labels(f)


def test_exception_nothing_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every file missing: a one-line "nothing found" error (exit 4), no report folder."""
    f = tmp_path / "labels.csv"
    f.write_text("path,label\nnope1.jpg,0\nnope2.jpg,1\n")
    out = tmp_path / "ev"
    assert main(["eval", str(f), "--out", str(out)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could be scored: 2 failed" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder"])
def test_exception_labels_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    """A labels "file" that is a FIFO (would block for a writer), ``/dev/zero`` (would fill the
    memory) or a folder: a usage error before a byte is read (fuzz round 5)."""
    import os
    import threading

    path = {"fifo": tmp_path / "labels.csv", "dev_zero": Path("/dev/zero"),
            "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            read_labels(path)
            outcome.append(None)
        except BaseException as exc:  # the outcome under test (MemoryError included)
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # unblock the FIFO's reader
        worker.join(5)
        pytest.fail("read_labels blocked on a FIFO")
    assert isinstance(outcome[0], UsageError), outcome
    assert ("a folder" if kind == "folder" else "not a regular file") in str(outcome[0])
