"""Every subcommand's ``--help`` works and every option recorded in ``cli_surface.json`` (the
surface before the CLI helper refactor) is still there with the same default, type, help text,
metavar, choices and action. New commands and options may be added; none may change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doppelab.cli.main import main
from tests.cli.cli_surface import surface

RECORDED = json.loads((Path(__file__).with_name("cli_surface.json")).read_text())
AGAIN = (
    "if on purpose, record it again: "
    "PYTHONPATH=src python -m tests.cli.cli_surface > tests/cli/cli_surface.json"
)


def test_every_recorded_command_and_option_is_unchanged() -> None:
    now = surface()
    for name, before in RECORDED.items():
        assert name in now, f"{name} is gone; {AGAIN}"
        got = now[name]
        for key in ("description", "epilog", "formatter", "help", "defaults"):
            assert got.get(key) == before.get(key), f"{name}: {key} changed; {AGAIN}"
        by_dest = {a["dest"]: a for a in got["actions"]}
        for action in before["actions"]:
            assert by_dest.get(action["dest"]) == action, f"{name}: {action['options']}; {AGAIN}"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_help_of_every_subcommand_lists_its_options(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*name.split()[1:], "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for action in RECORDED[name]["actions"]:
        for opt in action["options"]:
            assert opt in text, f"{name} --help does not list {opt}"


def test_common_error_line_progress_and_log(capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.cli.common import log_json, progress_bar, report_error, show_step
    from doppelab.core.errors import NoFaceError, UsageError

    assert report_error("detect", NoFaceError("no face in x.jpg")) == 4
    assert report_error("eval", UsageError("bad")) == 2
    log_json({"step": 3})
    with progress_bar(10, unit="it", desc="t") as bar:  # stderr is captured: no bar drawn
        show_step(bar, 7, {"loss": 0.25})
        assert bar.n == 7 and bar.disable
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "doppelab detect: error: no face in x.jpg",
        "doppelab eval: error: bad",
        '{"step": 3}',
    ]


def test_main_prints_one_line_and_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["faces", str(tmp_path / "missing.faceset")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("doppelab faces: error: ")
