"""The ``doppelab`` entry point: one command with subcommands.

Each subcommand lives in its own module under :mod:`doppelab.cli` and exposes
``register(subparsers) -> None`` (adds its parser and sets ``func``) and a ``run(args) -> int``.
The library raises typed errors; this module turns them into one-line messages on stderr and
the documented exit codes.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import io
import os
import sys
from collections.abc import Sequence

from doppelab.cli.common import report_error
from doppelab.core.errors import DoppelabError, FileAccessError
from doppelab.core.version import __version__

SUBCOMMANDS = (
    "demo", "extract", "faces", "swap", "train", "keys", "verify", "detect", "eval", "detect-train",
    "serve", "batch",
)

EPILOG = """\
exit codes: 0 done, 1 internal error, 2 usage, 3 bad input, 4 nothing found (e.g. no face),
5 cannot write output, 130 interrupted.

Use doppelab only on people who gave their consent; outputs of creation are always labelled."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doppelab",
        description="An open deepfake lab: extract faces, create labelled fakes, verify, detect.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"doppelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"doppelab.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name == f"doppelab.cli.{name.replace('-', '_')}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def _tolerant_stdout() -> None:
    """Under a strict UTF-8 locale (e.g. en_US.UTF-8), printing a file name with undecodable
    bytes (kept by Python as lone surrogates) would raise: write them as backslash escapes."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_stdout()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except DoppelabError as exc:
        return report_error(args.command, exc)
    except OSError as exc:  # a name the OS cannot hold, met where no check caught it first
        if exc.errno != errno.ENAMETOOLONG:
            raise
        return report_error(args.command, FileAccessError(
            f"file name too long: {os.fsdecode(exc.filename or '')}"))
    except KeyboardInterrupt:
        print(f"doppelab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
