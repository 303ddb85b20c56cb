"""``doppelab detect-train`` argument checks (bad values are usage errors, exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.cli.main import main


@pytest.mark.parametrize(
    "extra",
    [["--real-transform", "1.5"], ["--real-transform", "-0.1"], ["--init", "missing.pt"],
     ["--lr", "0"], ["--warmup", "1"], ["--eval-every", "-5"], ["--codec", "1.2"]],
)
def test_bad_training_options(
    tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture
) -> None:
    args = ["detect-train", "--data-dir", str(tmp_path), "--work-dir", str(tmp_path / "w")]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and extra[0] in err[0]
    assert not (tmp_path / "w").exists()  # nothing started
