"""``doppelab batch``: inputs, the resumable journal, and one real run on local Ray."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from doppelab.cli.main import main
from doppelab.core.errors import UsageError
from doppelab.scale.batch import list_inputs
from doppelab.scale.results import (
    COLUMNS,
    Journal,
    done_rows,
    finalize,
    journal_path,
    utf8_safe,
)


def test_list_inputs_folder_and_csv(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.mp4", "sub/b.JPG", "notes.txt", ".hidden.mp4", "voice.wav", "sub/c.MP3"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_inputs(tmp_path)] == ["a.mp4", "b.JPG", "c.MP3", "voice.wav"]
    csv = tmp_path / "list.csv"
    csv.write_text("label,path\nfake,a.mp4\nreal,/abs/c.mov\n")
    assert list_inputs(csv) == [tmp_path / "a.mp4", Path("/abs/c.mov")]
    with pytest.raises(UsageError):
        list_inputs(tmp_path / "notes.txt")


def test_journal_resume_cuts_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    j = Journal(out)
    j.add({"path": "a", "status": "ok", "probability": 0.2})
    j.close()
    with open(journal_path(out), "a") as fh:
        fh.write('{"path": "b", "sta')  # killed mid-write
    assert [r["path"] for r in done_rows(out)] == ["a"]
    assert journal_path(out).read_text().endswith("}\n")
    finalize(out, done_rows(out))
    assert not journal_path(out).exists()
    rows = done_rows(out)  # from the Parquet file now
    assert rows[0]["path"] == "a" and set(rows[0]) == set(COLUMNS)


def test_parquet_with_undecodable_file_name(tmp_path: Path) -> None:
    """A file name with bytes that are not UTF-8 crashed the final Parquet write (after every
    file was checked); it is stored escaped, and that key counts as done on a re-run."""
    out = tmp_path / "r.parquet"
    odd = os.fsdecode(b"/media/odd_\xff.jpg")
    j = Journal(out)
    j.add({"path": odd, "status": "error", "error": f"not media: {odd}"})
    j.close()
    finalize(out, done_rows(out))
    rows = done_rows(out)
    assert rows[0]["path"] == "/media/odd_\\udcff.jpg" == utf8_safe(odd)
    assert rows[0]["error"].endswith("odd_\\udcff.jpg")


def test_bad_output_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path), "-o", str(tmp_path / "r.csv")]) == 2
    assert "must end in .parquet or .jsonl" in capsys.readouterr().err


def test_output_below_a_file_refused_before_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.scale import batch

    def no_ray(address: str | None, workers: int) -> None:
        raise AssertionError("Ray started")

    monkeypatch.setattr(batch, "_start_ray", no_ray)
    (tmp_path / "a.mp4").write_bytes(b"x")
    taken = tmp_path / "taken.jpg"
    taken.write_bytes(b"x")
    assert main(["batch", str(tmp_path), "-o", str(taken / "r.jsonl")]) == 5
    assert capsys.readouterr().err.strip().endswith(f"{taken} exists and is not a folder")


@pytest.mark.slow
def test_batch_on_ray_resumes(tmp_path: Path, astronaut_video: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(astronaut_video, src / name)
    (src / "c.mp4").write_text("not a video at all")
    out = tmp_path / "results.jsonl"
    # a previous run finished a.mp4 (and was killed while writing its next row)
    out.write_text(json.dumps({"path": str(src / "a.mp4"), "status": "ok",
                               "verdict": "earlier"}) + "\n" + '{"path": "')
    code = main(["batch", str(src), "-o", str(out), "--workers", "1", "--frames", "4",
                 "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["total"], summary["skipped"], summary["processed"], summary["errors"]) \
        == (3, 1, 2, 1)
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["a.mp4"]["verdict"] == "earlier"  # skipped, not redone
    assert rows["b.mp4"]["status"] == "ok" and rows["b.mp4"]["verdict"] in (
        "likely fake", "likely real", "inconclusive")
    assert rows["b.mp4"]["provenance_found"] is False and rows["b.mp4"]["faces"] > 0
    assert rows["c.mp4"]["status"] == "error" and "not an image or video" in rows["c.mp4"]["error"]


def test_check_file_turns_failures_into_rows() -> None:
    from doppelab.core.errors import NotMediaError
    from doppelab.scale.batch import check_file

    class Failing:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def run(self, path: str) -> None:
            raise self.exc

    row = check_file(Failing(NotMediaError("not an image or video: x")), "x")
    assert (row["status"], row["error"]) == ("error", "not an image or video: x")
    row = check_file(Failing(RuntimeError("boom")), "x")
    assert row["status"] == "error" and row["error"] == "internal error: RuntimeError: boom"


def test_check_file_audio_gets_speech_verdict_without_verify(tmp_path: Path) -> None:
    from doppelab.detect.predict import MediaResult
    from doppelab.scale.batch import AUDIO_SUMMARY, check_file

    class Speech:
        def run(self, path: str) -> MediaResult:
            return MediaResult(path=path, kind="audio", width=0, height=0, frames_total=0,
                               frames_sampled=0, verdict="likely real", probability=0.2,
                               detectors={"speech": 0.2})

    # a file verify would refuse ("an audio file, not an image or video") if it were asked
    row = check_file(Speech(), str(tmp_path / "voice.wav"))
    assert row["status"] == "ok" and row["kind"] == "audio" and row["verdict"] == "likely real"
    assert row["summary"] == AUDIO_SUMMARY and row.get("manifest") is None
    assert json.loads(row["detectors"]) == {"speech": 0.2}
    assert set(row) <= set(COLUMNS)


def test_list_inputs_csv_duplicates_once_and_bad_encoding(tmp_path: Path) -> None:
    """A path listed twice gave two rows in a .jsonl output; a CSV that is not UTF-8 ended the
    run with a UnicodeDecodeError traceback (exit 1) instead of a bad-input error."""
    from doppelab.core.errors import InputError

    csv = tmp_path / "list.csv"
    csv.write_text("path\na.jpg\nb.jpg\na.jpg\n" + str(tmp_path / "a.jpg") + "\n")
    assert list_inputs(csv) == [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"path\ncaf\xe9.jpg\n")
    with pytest.raises(InputError, match="not a UTF-8 CSV"):
        list_inputs(latin)


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ray.init's SIGTERM handler exits with status 15: SIGTERM part-way now raises
    KeyboardInterrupt (the CLI's "interrupted", exit 130); finished rows stay in the journal,
    no final file is written, Ray is shut down and the previous handler comes back."""
    import signal
    import sys

    from doppelab.scale import batch

    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    shut: list[bool] = []

    class FakeRay:
        def shutdown(self) -> None:
            shut.append(True)

    def start(address: object, workers: int) -> FakeRay:
        signal.signal(signal.SIGTERM, lambda s, f: sys.exit(s))  # what ray.init installs
        return FakeRay()

    def pool(ray: object, todo: list[str], workers: int, frames: int) -> object:
        yield {"_ready": True}
        yield {"path": todo[0], "status": "ok"}
        os.kill(os.getpid(), signal.SIGTERM)
        yield {"path": todo[1], "status": "ok"}

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(batch, "_start_ray", start)
    monkeypatch.setattr(batch, "_run_pool", pool)
    out = tmp_path / "r.parquet"
    try:
        with pytest.raises(KeyboardInterrupt):
            batch.run_batch(tmp_path, out)
    finally:
        after = signal.signal(signal.SIGTERM, before)
    assert shut == [True] and not out.exists()
    assert [r["path"] for r in done_rows(out)] == [str(tmp_path / "a.jpg")]
    assert after is not batch._raise_interrupt
