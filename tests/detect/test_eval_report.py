"""eval's report.html carries the evaluation itself: metrics, ROC curves, labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.detect.evaluate import Labelled, evaluate, report_html
from doppelab.detect.predict import MediaResult


class _Stub:
    """A detector that gives each file a fixed probability (no models loaded)."""

    def __init__(self, p: dict[str, float]) -> None:
        self.p = p

    def run(self, path: Path) -> MediaResult:
        prob = self.p[Path(path).name]
        timeline = [{"timestamp": 0.0, "probability": prob}]
        return MediaResult(path=str(path), kind="image", width=8, height=8, frames_total=1,
                           frames_sampled=1, verdict="likely fake" if prob > 0.5 else
                           "likely real", probability=prob, timeline=timeline)


def test_report_holds_metrics_roc_and_labels() -> None:
    rows = [Labelled(path=Path("real1.png"), label=0, source="real"),
            Labelled(path=Path("real2.png"), label=0, source="real"),
            Labelled(path=Path("swap.png"), label=1, source="mesh")]
    metrics, results = evaluate(rows, _Stub({"real1.png": 0.2, "real2.png": 0.7,
                                             "swap.png": 0.9}))  # type: ignore[arg-type]
    page = report_html(metrics, results)
    assert "<h2>Metrics</h2>" in page and "3/3 files scored" in page
    assert ("<tr><td>video</td><td>all</td><td>3 (1 fake, 2 real)</td><td>1.000</td>"
            "<td>0.000</td><td>1.000</td><td>0.667</td></tr>") in page
    assert "<tr><td>video</td><td>mesh</td>" in page
    assert 'alt="ROC curves"' in page
    assert "<tr><td>swap.png</td><td>fake</td><td>mesh</td><td>likely fake</td>" in page
    assert page.index("<h2>Metrics</h2>") < page.index("<h2>real1.png</h2>")


def test_cli_text_says_where_the_files_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.cli.main import main
    from doppelab.detect import predict

    probs = {"a.png": 0.1, "b.png": 0.8}
    monkeypatch.setattr(predict, "Detect", lambda cfg: _Stub(probs))
    for name in probs:
        (tmp_path / name).write_bytes(b"")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na.png,0\nb.png,1\n")
    out = tmp_path / "ev"
    assert main(["eval", str(labels), "--out", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"-> {out}/ (eval.json, roc.png, report.html)"
    assert {p.name for p in out.iterdir()} == {"eval.json", "roc.png", "report.html"}


def test_exception_eval_frames_zero_is_usage(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.cli.main import main
    from doppelab.core.errors import UsageError
    from doppelab.detect.predict import DetectConfig

    with pytest.raises(UsageError, match="--frames must be >= 1"):
        DetectConfig(frames=0)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na.png,0\n")
    out = tmp_path / "ev"
    assert main(["eval", str(labels), "--frames", "0", "--out", str(out)]) == 2
    assert "--frames must be >= 1, got 0" in capsys.readouterr().err
    assert not out.exists()


def test_exception_out_is_a_file_refused_before_work(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.cli.main import main
    from doppelab.detect import predict

    ran: list[Path] = []

    class Counting(_Stub):
        def run(self, path: Path) -> MediaResult:
            ran.append(path)
            return super().run(path)

    monkeypatch.setattr(predict, "Detect", lambda cfg: Counting({"a.png": 0.1}))
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na.png,0\n")
    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    for out in (taken, taken / "sub"):
        assert main(["eval", str(labels), "--out", str(out)]) == 5
        assert f"{taken} exists and is not a folder" in capsys.readouterr().err
    assert ran == [] and taken.read_text() == "x"
