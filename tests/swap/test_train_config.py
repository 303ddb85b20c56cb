"""TrainConfig refuses settings that would train nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from doppelab.cli.main import main
from doppelab.core.errors import UsageError
from doppelab.swap.autoencoder.train import TrainConfig


@pytest.mark.parametrize("minutes", [0.0, -1.0, math.nan])
def test_exception_minutes_not_positive(minutes: float) -> None:
    with pytest.raises(UsageError, match="--minutes must be > 0"):
        TrainConfig(minutes=minutes)
    assert TrainConfig(minutes=0.5).minutes == 0.5 and TrainConfig().minutes is None


def test_cli_minutes_negative_is_usage_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main(["train", "a.faceset", "b.faceset", "-o", str(out), "--minutes", "-1"]) == 2
    assert "--minutes must be > 0" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("extra", "total"), [([], 20000), (["--minutes", "30"], None)])
def test_cli_bar_starts_at_the_resumed_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str],
                                            extra: list[str], total: int | None) -> None:
    """A resumed run's bar starts at its step (rate and ETA of this run's steps only: it read
    '61.87it/s' for a 3 it/s model resumed at step 176), without a step total (an ETA of hours)
    when --minutes ends the run."""
    from doppelab.cli import train as cli_train
    from doppelab.swap.autoencoder import train as lib
    from doppelab.swap.autoencoder.train import TrainResult

    made: list[dict] = []

    class Bar:
        n = 0

        def set_postfix(self, *a: object, **k: object) -> None: ...

        def update(self, n: int) -> None: ...

        def close(self) -> None: ...

    def fake_bar(total: int | None = None, **kw: object) -> Bar:
        made.append({"total": total, **kw})
        return Bar()

    def fake_train(a, b, out, mcfg, tcfg, progress):  # type: ignore[no-untyped-def]
        for step in (177, 178):
            progress(step, {"rec_a": 1.0})
        return TrainResult(path=out, step=178, resumed_from=176, losses={}, it_per_s=3.0,
                           model_hash="sha256:" + "0" * 64)

    monkeypatch.setattr(cli_train, "progress_bar", fake_bar)
    monkeypatch.setattr(lib, "train", fake_train)
    assert main(["train", "a.faceset", "b.faceset", "-o", str(tmp_path / "m"), *extra]) == 0
    assert len(made) == 1 and made[0]["initial"] == 176 and made[0]["total"] == total
    assert "trained to step 178 (from 176)" in capsys.readouterr().out


def test_exception_output_folder_of_other_files(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.swap.autoencoder.train import check_model_output

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "me.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="is not a model folder"):
        check_model_output(photos)
    assert main(["train", "a.faceset", "b.faceset", "-o", str(photos), "--steps", "2"]) == 2
    assert "exists and is not a model folder: choose a new path" in capsys.readouterr().err
    assert [p.name for p in photos.iterdir()] == ["me.jpg"]
    # an empty folder, a new path, and a model folder (even one interrupted before its first
    # checkpoint, holding only log.csv) are fine
    empty = tmp_path / "empty"
    empty.mkdir()
    interrupted = tmp_path / "model"
    interrupted.mkdir()
    (interrupted / "log.csv").write_text("step\n")
    for ok in (empty, tmp_path / "new", interrupted):
        check_model_output(ok)
