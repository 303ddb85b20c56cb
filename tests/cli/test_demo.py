from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.cli.main import main
from doppelab.extract.faceset import FaceSet


def test_demo_runs_on_built_in_material(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    assert "demo done" in capsys.readouterr().out
    fs = FaceSet.open(out / "astronaut.faceset")
    assert len(fs) == 75  # 3 s at 25 fps, a face in every frame
    assert (out / "contact.png").stat().st_size > 10_000
