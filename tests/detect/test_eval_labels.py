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
