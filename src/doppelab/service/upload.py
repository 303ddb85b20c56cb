"""Streaming ``multipart/form-data`` upload straight to a file, with a size cap.

The body is parsed as it arrives (python-multipart's streaming parser): the ``file`` part goes
to a temporary file in the uploads folder, other small fields are ignored, and the upload stops
with :class:`UploadError` (status 413) the moment the body passes the cap. Nothing of the
client's filename reaches the disk; it is kept only (shortened, printable) for display.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

FIELD = "file"
MAX_PARTS = 8


class UploadError(Exception):
    """A request body that cannot be accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None


@dataclass(slots=True)
class Received:
    """The saved ``file`` part."""

    path: Path
    size: int
    filename: str


def display_name(raw: str | None) -> str:
    """A printable, short version of a client-supplied filename (for display only)."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:120] or "upload"


class _Sink:
    """python-multipart callbacks writing the ``file`` part to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: BinaryIO | None = None
        self.part = _Part()
        self.header_field = b""
        self.header_value = b""
        self.parts = 0
        self.size = 0
        self.filename: str | None = None
        self.done_file = False
        self.ended = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin, "on_header_field": self.header_f,
            "on_header_value": self.header_v, "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished, "on_part_data": self.data,
            "on_part_end": self.part_end, "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(400, "Malformed multipart body", f"more than {MAX_PARTS} parts")
        self.part = _Part()

    def header_f(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_v(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.part.headers[self.header_field.strip().lower()] = self.header_value.strip()
        self.header_field = self.header_value = b""

    def headers_finished(self) -> None:
        disposition = self.part.headers.get(b"content-disposition", b"")
        kind, params = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in params:
            raise UploadError(400, "Malformed multipart body",
                              "a part without Content-Disposition: form-data; name=...")
        self.part.name = params[b"name"].decode("utf-8", "replace")
        if self.part.name == FIELD:
            if self.fh is not None or self.done_file:
                raise UploadError(400, "Malformed multipart body", "more than one 'file' part")
            raw = params.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
            self.fh = open(self.path, "xb")  # noqa: SIM115 (closed in part_end / close)

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == FIELD and self.fh is not None:
            self.fh.write(data[start:end])
            self.size += end - start

    def part_end(self) -> None:
        if self.part.name == FIELD and self.fh is not None:
            self.fh.close()
            self.fh = None
            self.done_file = True

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _boundary(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise UploadError(415, "Unsupported Media Type",
                          "send the file as multipart/form-data with a part named 'file'")
    boundary = params.get(b"boundary", b"")
    if not boundary or len(boundary) > 200:
        raise UploadError(400, "Malformed multipart body", "missing or invalid boundary")
    return boundary


async def receive_file(stream: AsyncIterator[bytes], content_type: str | None,
                       content_length: str | None, folder: Path, max_bytes: int) -> Received:
    """Parse a multipart body from ``stream`` and save its ``file`` part under ``folder``.

    Raises:
        UploadError: 413 over ``max_bytes`` (by Content-Length or while streaming), 415 not
            multipart, 400 malformed, empty body, no ``file`` part or an empty file.
    """
    boundary = _boundary(content_type)
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise UploadError(400, "Bad Request", "invalid Content-Length") from None
        if declared > max_bytes + 64 * 1024:
            raise UploadError(413, "Upload too large", f"the limit is {max_bytes} bytes")
    path = folder / f".incoming-{secrets.token_hex(16)}"
    sink = _Sink(path)
    try:
        await _parse(stream, boundary, sink, max_bytes)
    except BaseException:
        sink.close()
        path.unlink(missing_ok=True)
        raise
    return Received(path=path, size=sink.size, filename=display_name(sink.filename))


async def _parse(stream: AsyncIterator[bytes], boundary: bytes, sink: _Sink,
                 max_bytes: int) -> None:
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > max_bytes + 64 * 1024 or sink.size > max_bytes:
                raise UploadError(413, "Upload too large", f"the limit is {max_bytes} bytes")
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except (ValueError, OSError) as exc:  # python-multipart raises ValueError subclasses
        raise UploadError(400, "Malformed multipart body", _short(exc)) from None
    if total == 0:
        raise UploadError(400, "Empty body", "the request body is empty")
    if not sink.ended or not sink.done_file:
        cut = sink.fh is not None or sink.done_file
        what = "body ends before the closing boundary" if cut else "no part named 'file'"
        raise UploadError(400, "Malformed multipart body", what)
    if sink.size == 0:
        raise UploadError(400, "Empty file", "the uploaded file is empty (0 bytes)")
    if sink.size > max_bytes:
        raise UploadError(413, "Upload too large", f"the limit is {max_bytes} bytes")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete a file if it exists (upload clean-up must never fail a request)."""
    with contextlib.suppress(OSError):
        Path(path).unlink(missing_ok=True)
