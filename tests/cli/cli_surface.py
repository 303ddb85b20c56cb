"""The option surface of every ``doppelab`` subcommand, as plain data (for the CLI snapshot).

``python -m tests.cli.cli_surface > tests/cli/cli_surface.json`` records it; ``test_cli_surface``
checks that every recorded command and option is still there, unchanged.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from doppelab.cli.main import build_parser


def _action(a: argparse.Action) -> dict[str, Any]:
    kind = getattr(a.type, "__name__", None) if a.type is not None else None
    return {
        "options": list(a.option_strings),
        "dest": a.dest,
        "default": _default(a.default),
        "type": kind,
        "help": a.help,
        "metavar": a.metavar if isinstance(a.metavar, str | None) else list(a.metavar),
        "choices": None if a.choices is None else sorted(map(str, a.choices)),
        "required": a.required,
        "nargs": a.nargs,
        "action": type(a).__name__,
    }


def _default(value: Any) -> str:
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def surface(parser: argparse.ArgumentParser | None = None, path: str = "") -> dict[str, Any]:
    """``{"doppelab keys api create": {"description", "epilog", "actions": [...]}, ...}``."""
    parser = parser or build_parser()
    name = path or "doppelab"
    out: dict[str, Any] = {
        name: {
            "description": parser.description,
            "epilog": parser.epilog,
            "formatter": type(parser.formatter_class).__name__
            if not isinstance(parser.formatter_class, type)
            else parser.formatter_class.__name__,
            "actions": [_action(a) for a in parser._actions
                        if not isinstance(a, argparse._SubParsersAction)],
            "defaults": {k: _default(v) for k, v in sorted(parser._defaults.items())},
        }
    }
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in a._choices_actions}
            for sub, p in a.choices.items():
                out.update(surface(p, f"{name} {sub}"))
                out[f"{name} {sub}"]["help"] = helps.get(sub)
    return out


if __name__ == "__main__":
    print(json.dumps(surface(), indent=1))
