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
