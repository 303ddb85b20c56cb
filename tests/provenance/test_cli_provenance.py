"""CLI: keys init/show, verify (text and --json), missing keys exit code and message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doppelab.cli.main import main
from doppelab.provenance.publish import label_image


def test_keys_init_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "init"]) == 0
    assert main(["keys", "show", "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out[out.index("{"):])
    assert len(shown["certificates"]) == 2
    assert "PRIVATE KEY" not in out
    assert main(["keys", "init"]) == 2  # exists -> usage error


def test_keys_show_missing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "show"]) == 2
    assert "doppelab keys init" in capsys.readouterr().err


def test_verify_json_and_text(lab: Path, tmp_path: Path, astronaut: np.ndarray,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fake.png"
    pid = label_image(astronaut, out, method="mesh", model_hash="none").payload_id
    assert main(["verify", "--json", str(out)]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["manifest"]["state"] == "trusted"
    assert verdict["watermark"]["payload_id"] == pid
    assert verdict["provenance_found"] is True
    plain = tmp_path / "plain.png"
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(plain)
    assert main(["verify", str(plain)]) == 0
    assert "no provenance found" in capsys.readouterr().out


def test_verify_bad_input(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not.jpg"
    bad.write_text("hello")
    assert main(["verify", str(bad)]) == 3
    assert main(["verify", str(tmp_path / "missing.jpg")]) == 3


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("keys", "verify"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "example" in capsys.readouterr().out
