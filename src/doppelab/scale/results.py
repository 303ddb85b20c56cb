"""Batch results on disk: resumable JSONL journal, final Parquet or JSONL.

A ``.jsonl`` output is its own journal: one row per finished file, appended and fsynced, so an
interrupted run keeps every finished row (a torn last line is cut off on resume). A ``.parquet``
output (pyarrow) is journalled in ``.<name>.journal.jsonl`` beside it and written whole,
atomically, when the run ends; rows already in the Parquet file count as done too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from doppelab.core.errors import OutputError, UsageError
from doppelab.core.storage import atomic_path, check_folder_possible, ensure_dir, utf8_safe

COLUMNS: dict[str, str] = {
    "path": "string", "status": "string", "error": "string", "kind": "string",
    "verdict": "string", "reason": "string", "caveats": "string", "probability": "float64",
    "detectors": "string", "frames_total": "int64", "frames_sampled": "int64",
    "faces": "int64", "provenance_found": "bool_", "manifest": "string",
    "watermark_found": "bool_", "watermark_payload": "string", "registry_matched": "bool_",
    "summary": "string", "seconds": "float64",
}
FORMATS = (".parquet", ".jsonl")


def check_output(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"-o {path}: the results file must end in .parquet or .jsonl")
    if path.is_dir():
        raise OutputError(f"output path is a directory: {path}")
    # a file where its folder should be: refused now, not after the cluster has started
    check_folder_possible(path.parent, f"-o {path}")


def journal_path(out: Path) -> Path:
    return out if out.suffix.lower() == ".jsonl" else out.with_name(f".{out.name}.journal.jsonl")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (kill mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
    rows = []
    for line in data[:end].splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() != ".parquet" or not path.exists():
        return []
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types
        raise UsageError(f"{path} exists and is not a readable Parquet file: {exc}") from None


def done_rows(out: Path) -> list[dict[str, Any]]:
    """Rows already finished for ``out`` (final file plus journal), by path, last one wins."""
    rows = {r["path"]: r for r in _read_parquet(out) if "path" in r}
    for r in _read_jsonl(journal_path(out)):
        if "path" in r:
            rows[r["path"]] = r
    return list(rows.values())


class Journal:
    """Append-only, fsynced row log."""

    def __init__(self, out: Path) -> None:
        self.path = journal_path(out)
        ensure_dir(self.path.parent)
        try:
            self.fh: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def add(self, row: dict[str, Any]) -> None:
        self.fh.write(json.dumps({k: row.get(k) for k in COLUMNS}) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def finalize(out: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write the final Parquet file atomically and drop its journal (JSONL: nothing to do)."""
    if out.suffix.lower() == ".jsonl":
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(k, getattr(pa, t)()) for k, t in COLUMNS.items()])
    table = pa.Table.from_pylist(
        [{k: utf8_safe(v) if isinstance(v := r.get(k), str) else v for k in COLUMNS}
         for r in rows], schema=schema)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    journal_path(out).unlink(missing_ok=True)
