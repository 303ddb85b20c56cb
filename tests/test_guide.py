"""docs/guide.md cannot rot: every command and Python example in it runs here, in document order.

```bash``` blocks: each line must exit 0. ```console``` blocks: each ``$ `` line runs; the lines
after it must appear in its output (``...`` matches anything) and ``# -> exit N`` sets the
expected exit code. ```python``` blocks run as doctests with shared globals. An HTML comment
just before a block: ``<!-- test: skip REASON -->``, ``<!-- test: replace "FROM" "TO" -->`` or
``<!-- test: requires MODULE -->`` (skipped where that module is not built).
All of it runs in one temporary folder with generated inputs and its own DOPPELAB_HOME.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"
LANGS = ("bash", "console", "python")
EXIT = re.compile(r"#\s*->\s*exit\s+(\d+)\s*$")
SHELL_CHARS = re.compile(r"[|<>;`$&]")
DIRECTIVE = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->$")


@dataclass
class Block:
    lang: str
    text: str
    line: int
    skip: str | None = None
    requires: str | None = None  # a module the block needs (a feature not in every checkout)
    replace: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.lang}-line{self.line}"

    def body(self) -> str:
        text = self.text
        for old, new in self.replace:
            assert old in text, f"guide line {self.line}: 'replace' text {old!r} not in the block"
            text = text.replace(old, new)
        return text


def parse(markdown: str) -> list[Block]:
    """The fenced bash/console/python blocks of ``markdown`` with their test directives."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        lang = lines[i][3:].strip() if lines[i].startswith("```") else None
        if lang is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if lang in LANGS:
            block = Block(lang, "\n".join(lines[i + 1 : end]) + "\n", i + 1)
            m = DIRECTIVE.match(lines[i - 1].strip()) if i else None
            if m:
                kind, _, rest = m.group(1).partition(" ")
                if kind == "skip":
                    block.skip = rest or "marked skip"
                elif kind == "requires":
                    block.requires = rest
                elif kind == "replace":
                    old, new = shlex.split(rest)
                    block.replace.append((old, new))
                else:
                    raise ValueError(f"guide line {i}: unknown test directive {kind!r}")
            blocks.append(block)
        i = end + 1
    return blocks


BLOCKS = parse(GUIDE.read_text())
GLOBS: dict[str, Any] = {}


def _inputs(folder: Path) -> None:
    """The example files the guide names, made from the demo's public-domain material."""
    from skimage import data

    from doppelab.core.media import write_image
    from doppelab.demo import material

    astronaut = material.astronaut_image()
    hopper = material.hopper_image(512)
    material.make_clip(astronaut, folder / "clip.mp4", seconds=0.6, size=256)
    material.make_clip(hopper, folder / "hopper.mp4", seconds=0.6, size=256)
    shutil.copy(material.hopper_path(), folder / "hopper.jpg")
    write_image(folder / "astronaut.jpg", astronaut)
    write_image(folder / "no_face.jpg", np.ascontiguousarray(data.coffee()))
    pair = np.hstack([astronaut, cv2.resize(hopper, astronaut.shape[1::-1])])
    write_image(folder / "two.jpg", np.ascontiguousarray(pair))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The folder the guide's commands run in, and their environment."""
    work = tmp_path_factory.mktemp("guide")
    home = tmp_path_factory.mktemp("guide-home")
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "doppelab"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m doppelab "$@"\n')
    shim.chmod(0o755)
    _inputs(work)
    env = {k: v for k, v in os.environ.items() if k != "DOPPELAB_REGISTRY"}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(ROOT / "src"),
        DOPPELAB_HOME=str(home),
        NO_COLOR="1",
    )
    return {"work": work, "home": home, "env": env}


@dataclass
class Ran:
    returncode: int
    stdout: str = ""
    stderr: str = ""


def _in_process(argv: list[str]) -> Ran:
    """``doppelab ARGV`` through the console script's own entry point, in this process (saves
    the interpreter and model start-up of a subprocess per command)."""
    from doppelab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    return Ran(code, out.getvalue(), err.getvalue())


def _shell(cmd: str, lab: dict[str, Any]) -> Ran:
    """Run one guide command line: ``&&``-joined parts in turn; a plain ``doppelab ...`` part
    (no pipes, redirections or substitutions) in process, anything else in bash."""
    cmd = EXIT.sub("", cmd).split(" #")[0].strip()
    ran = Ran(0)
    for part in cmd.split(" && "):
        if part.startswith("doppelab ") and not SHELL_CHARS.search(part):
            ran = _in_process(shlex.split(part)[1:])
        else:
            r = subprocess.run(["bash", "-c", part], cwd=lab["work"], env=lab["env"],
                               capture_output=True, text=True, timeout=600)
            ran = Ran(r.returncode, r.stdout, r.stderr)
        if ran.returncode:
            break
    return ran


def _commands(text: str) -> list[str]:
    """Lines of a bash block, continuations joined, blank and comment-only lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [c for c in joined.splitlines() if c.strip() and not c.strip().startswith("#")]


def _console(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) pairs of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif line.strip() and out:
            out[-1][1].append(line.strip())
    return out


def _matches(expected: str, actual: list[str]) -> bool:
    pattern = re.compile(".*".join(re.escape(p) for p in expected.split("...")))
    return any(pattern.fullmatch(a.strip()) for a in actual)


def _run_bash(block: Block, lab: dict[str, Any]) -> None:
    for cmd in _commands(block.body()):
        r = _shell(cmd, lab)
        assert r.returncode == 0, f"guide line {block.line}: `{cmd}` -> {r.returncode}\n{r.stderr}"


def _run_console(block: Block, lab: dict[str, Any]) -> None:
    for cmd, expected in _console(block.body()):
        m = EXIT.search(cmd)
        want = int(m.group(1)) if m else 0
        r = _shell(cmd, lab)
        where = f"guide line {block.line}: `{cmd}`"
        assert r.returncode == want, f"{where} -> {r.returncode}, not {want}\n{r.stderr}"
        actual = (r.stdout + r.stderr).splitlines()
        for line in expected:
            assert _matches(line, actual), f"{where}: no output line matches {line!r}:\n" + \
                "\n".join(actual)


def _run_python(block: Block, lab: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(block.body(), GLOBS, block.id, str(GUIDE),
                                               block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    GLOBS.update(test.globs)  # the next block continues with these names (DocTest copies them)
    assert runner.failures == 0, "".join(report)


def test_guide_parses_and_covers_every_command() -> None:
    from doppelab.cli.main import SUBCOMMANDS

    text = GUIDE.read_text()
    assert {b.lang for b in BLOCKS} == set(LANGS)
    for name in SUBCOMMANDS:
        assert f"doppelab {name}" in text, f"the guide shows no example of `doppelab {name}`"
    from doppelab.core import errors

    for name, obj in vars(errors).items():
        if isinstance(obj, type) and issubclass(obj, errors.DoppelabError) and name != \
                "DoppelabError":
            assert f"`{name}`" in text, f"the troubleshooting table misses {name}"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_guide_block(block: Block, lab: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    if block.skip:
        pytest.skip(f"guide line {block.line}: {block.skip}")
    if block.requires and importlib.util.find_spec(block.requires) is None:
        pytest.skip(f"guide line {block.line}: {block.requires} is not in this checkout")
    monkeypatch.chdir(lab["work"])
    monkeypatch.setenv("DOPPELAB_HOME", str(lab["home"]))
    if block.lang == "python":
        _run_python(block, lab)
    elif block.lang == "bash":
        _run_bash(block, lab)
    else:
        _run_console(block, lab)
