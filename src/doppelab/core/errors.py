"""Typed errors. The library raises these; the CLI maps them to exit codes and one-line messages.

Exit codes (documented in the README and ``doppelab --help``):

* 0 done
* 1 internal error (a bug: please report it)
* 2 usage error (bad arguments or configuration)
* 3 bad input (the file is empty, truncated, not media, an unsupported codec, too large, unreadable)
* 4 nothing found (e.g. no face in the input)
* 5 output error (cannot write the result)
* 130 interrupted
"""

from __future__ import annotations


class DoppelabError(Exception):
    """Base of every error doppelab raises on purpose."""

    exit_code: int = 1


class UsageError(DoppelabError):
    """Arguments or configuration that cannot work together."""

    exit_code = 2


class InputError(DoppelabError):
    """An input file or folder that cannot be used."""

    exit_code = 3


class FileAccessError(InputError):
    """The path does not exist, is not readable, or is of the wrong kind."""


class EmptyFileError(InputError):
    """A zero-byte file."""


class NotMediaError(InputError):
    """The file is not an image or video that can be decoded."""


class TruncatedMediaError(InputError):
    """The file starts as media but is cut off or corrupt."""


class UnsupportedCodecError(InputError):
    """A media file whose codec the bundled FFmpeg cannot decode."""


class DimensionsTooLargeError(InputError):
    """An image or video whose pixel count is beyond the configured limit (decompression bombs)."""


class FaceSetError(InputError):
    """A FaceSet that is missing, of an unknown version, or inconsistent."""


class NothingFoundError(DoppelabError):
    """The input was readable but held nothing to work on."""

    exit_code = 4


class NoFaceError(NothingFoundError):
    """No face (of the requested person or size) was found."""


class OutputError(DoppelabError):
    """The output cannot be written (permissions, disk full, target is a directory, ...)."""

    exit_code = 5


class ManyFacesError(InputError):
    """An input that must show exactly one face (a reference photo) shows several."""


class KeysMissingError(UsageError):
    """The lab signing keys are missing or unreadable (run ``doppelab keys init``)."""


class KeysExistError(UsageError):
    """``keys init`` would overwrite existing lab keys (use ``--force``)."""


class SigningError(OutputError):
    """A C2PA manifest could not be built or signed into the output."""


class CheckpointError(InputError):
    """A model or checkpoint that is missing, corrupted (hash mismatch) or for other settings."""
