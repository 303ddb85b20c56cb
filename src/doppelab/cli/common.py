"""What every ``doppelab`` subcommand module shares: its parser's layout, the ``--json`` flag,
progress on stderr (a bar only on a terminal), JSON-lines logs and the one-line error message.

Only the mechanics live here; each module keeps its own help texts, options and defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doppelab.core.errors import DoppelabError

Run = Callable[[argparse.Namespace], int]


def path_arg(text: str) -> Path:
    """An argparse ``type`` for file and folder arguments: ``Path(text)``, except that an empty
    string (``doppelab detect ""``, often an unset shell variable) is refused instead of being
    read as the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file (an unset variable?)")
    return Path(text)


def add_command(
    sub: Any, name: str, *, help: str, description: str | None, epilog: str, run: Run
) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``: description, then the epilog as written (examples,
    exit codes), and ``run`` as the function :func:`doppelab.cli.main.main` calls."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=run)
    return parser


def add_json(parser: argparse.ArgumentParser, help: str) -> None:
    """The ``--json`` flag: results for machines on stdout."""
    parser.add_argument("--json", action="store_true", help=help)


def progress_bar(total: int | None = None, **kw: Any) -> Any:
    """A tqdm bar on stderr, shown only when stderr is a terminal (``unit``, ``desc``... in
    ``kw``)."""
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=None, **kw)


def show_step(bar: Any, step: int, losses: dict[str, float]) -> None:
    """Move a training bar to ``step`` with the losses beside it."""
    bar.n = step
    bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
    bar.update(0)


def log_json(record: dict[str, Any]) -> None:
    """One JSON line of a long run's log on stderr."""
    print(json.dumps(record), file=sys.stderr, flush=True)


# Characters that would break "one line": C0 controls but tab, DEL, C1 controls (NEL among
# them) and the Unicode line and paragraph separators.
_LINE_BREAKERS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), 0x7F)}
_LINE_BREAKERS.update({c: f"\\u{c:04x}" for c in (*range(0x80, 0xA0), 0x2028, 0x2029)})
_LINE_BREAKERS.update({0x0A: "\\n", 0x0D: "\\r"})


def one_line(text: str) -> str:
    """``text`` with every character that would start a new line on a terminal (a file name
    holding a line break, a multi-line library message) written as an escape."""
    return text.translate(_LINE_BREAKERS)


def report_error(command: str, exc: DoppelabError) -> int:
    """The one-line message of a typed error on stderr (line breaks in it, e.g. from a file
    name, are escaped); returns its exit code."""
    print(one_line(f"doppelab {command}: error: {exc}"), file=sys.stderr)
    return exc.exit_code
