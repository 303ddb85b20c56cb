"""Atomic file output: write to a temporary sibling, then rename into place.

Nothing half-written is ever left at the final path: on any error the temporary is removed and
an :class:`~doppelab.core.errors.OutputError` is raised (the original file, if any, survives).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doppelab.core.errors import OutputError

NAME_MAX = 255  # bytes in one path component (Linux file systems, macOS)
PATH_MAX = 4095  # bytes in a whole path


def name_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the OS cannot hold ``path`` at all (a name over 255 bytes, a path over 4095), else
    None. ``Path.exists()``/``is_dir()`` raise ``OSError`` (ENAMETOOLONG) on such a path
    instead of answering, so the readers and writers check it first."""
    raw = os.fsencode(path)
    if len(raw) > PATH_MAX:
        return f"path too long ({len(raw)} bytes, the limit is {PATH_MAX})"
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > NAME_MAX:
        return f"file name too long ({longest} bytes, the limit is {NAME_MAX})"
    return None


def check_output_name(path: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputError` when the OS cannot hold ``path`` (see :func:`name_problem`)."""
    problem = name_problem(path)
    if problem:
        raise OutputError(f"cannot write {os.fsdecode(path)}: {problem}")


def check_folder_possible(folder: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`OutputError` when ``folder`` cannot be (or become) a folder because it, or
    the nearest of its parents that exists, is something else (a file where the folder should
    be); checked before long work rather than after it. ``what`` starts the message."""
    f = Path(folder)
    existing = next((p for p in (f, *f.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise OutputError(f"{what}: {existing} exists and is not a folder")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name one file: the same existing inode (hard and symbolic
    links, ``./x`` and ``x``), or, for paths that do not exist yet, the same absolute path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError, ValueError):
            return False


class NotRegularFileError(OSError):
    """A path that exists but is neither a regular file nor a folder: a FIFO, a device, a
    socket."""


def read_regular(path: str | os.PathLike[str], limit: int = -1) -> bytes:
    """Up to ``limit`` bytes (all of them with -1) of the regular file ``path``. The path is
    opened without blocking and checked before a byte is read: a FIFO's plain ``open`` waits
    for a writer forever, and ``/dev/zero`` never ends.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        NotRegularFileError: it is a FIFO, a device or a socket.
        OSError: it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.fsdecode(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", os.fsdecode(path))
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


def check_not_special(path: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputError` when ``path`` exists as something other than a regular file
    or a folder (a device such as ``/dev/null``, a FIFO, a socket; symbolic links followed):
    the rename that ends an atomic write would replace the node itself (run as root,
    ``-o /dev/null`` would put a regular file in its place)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise OutputError(f"output path is not a regular file (a device, FIFO or socket): "
                          f"{os.fsdecode(path)}")


def _check_parent(path: Path) -> None:
    check_output_name(path)
    if path.is_dir():
        raise OutputError(f"output path is a directory: {path}")
    check_not_special(path)
    ensure_dir(path.parent if str(path.parent) else Path("."))


def _temp_prefix(final: Path) -> str:
    """The prefix of ``final``'s temporary sibling: its name cut to 64 characters, so a final
    name near the 255-byte limit still has room for the temporary's prefix and suffix."""
    return f".{final.name[:64]}."


def _umask() -> int:
    """The process umask, read without changing it where the OS shows it (Linux ``/proc``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _settle_mode(tmp: Path, final: Path, base: int) -> None:
    """Give ``tmp`` the permissions a plain ``open``/``mkdir`` would: those of the file it
    replaces, else ``base`` less the umask (``mkstemp``/``mkdtemp`` make 0600/0700)."""
    try:
        mode = final.stat().st_mode & 0o7777
    except OSError:
        mode = base & ~_umask()
    os.chmod(tmp, mode)


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    ``suffix`` defaults to the final suffix of ``path`` so format-sniffing writers (PyAV, PIL)
    see the right extension.
    """
    final = Path(path)
    _check_parent(final)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=_temp_prefix(final),
            suffix=(final.suffix if suffix is None else suffix),
            dir=final.parent if str(final.parent) else ".",
        )
    except OSError as exc:  # e.g. a folder that exists but takes no new files (/proc, /sys)
        raise OutputError(f"cannot write {final}: {_describe(exc)}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _settle_mode(tmp, final, 0o666)
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {final}: {_describe(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsync before rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_npz(path: str | os.PathLike[str], **arrays: Any) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` (``np.savez``) atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically.

    Lone surrogates (how Python keeps the undecodable bytes of a file name) are written as
    backslash escapes, so a report naming such a file is still written, as valid UTF-8.
    """
    atomic_write_bytes(path, utf8_safe(text).encode("utf-8"))


def utf8_safe(text: str) -> str:
    """``text`` as valid UTF-8: the undecodable bytes of a file name (lone surrogates in Python)
    become backslash escapes, which files and Parquet's string columns accept."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` whole."""
    final = Path(path)
    _check_parent(final)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), dir=final.parent))
    except OSError as exc:
        raise OutputError(f"cannot write {final}: {_describe(exc)}") from exc
    try:
        yield tmp
        _settle_mode(tmp, final, 0o777)
        if final.exists():
            old = final.with_name(f"{_temp_prefix(final)}old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {final}: {_describe(exc)}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) as a folder, or raise :class:`OutputError` saying why."""
    p = Path(path)
    problem = name_problem(p)
    if problem:
        raise OutputError(f"cannot create folder {p}: {problem}")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {p}: {_describe(exc)}") from exc
    if not os.access(p, os.W_OK):
        raise OutputError(f"folder is not writable: {p}")
    return p
