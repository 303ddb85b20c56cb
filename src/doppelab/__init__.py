"""doppelab: an open deepfake lab — extract, create (always labelled), protect, detect.

The Python API mirrors the CLI and returns typed results; it never prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from doppelab.core.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from doppelab.extract.pipeline import extract as extract

__all__ = ["__version__", "extract"]


def __getattr__(name: str) -> Any:
    # Lazy: importing doppelab must stay cheap (mediapipe and torch load only when used).
    if name == "extract":
        from doppelab.extract.pipeline import extract

        return extract
    raise AttributeError(name)
