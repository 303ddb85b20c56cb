"""Every --help page reads as written for people: no Python values leak into it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from doppelab.cli.main import build_parser


def _parsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_no_python_none_in_help() -> None:
    pages = {p.prog: p.format_help() for p in _parsers(build_parser())}
    assert "doppelab keys init" in pages and "doppelab keys api create" in pages
    leaks = {prog for prog, text in pages.items() if "None" in text}
    assert not leaks, leaks
