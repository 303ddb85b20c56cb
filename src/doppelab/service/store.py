"""Durable state of the service: API keys and check jobs in one SQLite file (WAL mode).

Layout of the service's data folder (``$DOPPELAB_HOME/service`` or the platform's user data
dir, ``doppelab serve --data-dir`` overrides)::

    service.sqlite        api_keys, jobs
    uploads/<token>.<ext> uploaded media under generated names (never the client's name)
    reports/<job id>.html detect's HTML report of a finished check

API keys are 256-bit random tokens; only their SHA-256 is stored (a slow password hash buys
nothing for keys this long). Job states: ``queued`` -> ``running`` -> ``done`` | ``failed``.
Every change is one committed statement, so a crash (kill -9) leaves each job in exactly one
state; :meth:`Store.recover` decides what a restart does with jobs that were running.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from doppelab.core.errors import UsageError
from doppelab.core.storage import ensure_dir
from doppelab.service.upload import remove_quietly

KEY_PREFIX = "dpl_"
MAX_ATTEMPTS = 2  # a check interrupted by a restart is retried once, then failed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL, revoked REAL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, state TEXT NOT NULL, stage TEXT,
    filename TEXT NOT NULL, upload TEXT NOT NULL, kind TEXT, size INTEGER NOT NULL,
    created REAL NOT NULL, started REAL, finished REAL, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, note TEXT, result TEXT
);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (key_id, created);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""


def default_data_dir() -> Path:
    """``$DOPPELAB_HOME/service`` when set, else ``<user data dir>/doppelab/service``."""
    home = os.environ.get("DOPPELAB_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "service"
    return Path(platformdirs.user_data_dir("doppelab")) / "service"


def hash_key(token: str) -> str:
    """SHA-256 hex of an API key token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One API key as stored (the token itself is never stored)."""

    id: str
    name: str
    created: float
    revoked: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One check job row."""

    id: str
    key_id: str
    state: str
    stage: str | None
    filename: str
    upload: str
    kind: str | None
    size: int
    created: float
    started: float | None
    finished: float | None
    attempts: int
    error: str | None
    note: str | None
    result: dict[str, Any] | None


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(id=row["id"], name=row["name"], created=row["created"], revoked=row["revoked"])


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["result"] = json.loads(d["result"]) if d["result"] else None
    return Job(**d)


class Store:
    """Thread-safe access to ``service.sqlite`` (one connection, one lock; statements are tiny)."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = ensure_dir(data_dir if data_dir is not None else default_data_dir())
        self.uploads = ensure_dir(self.root / "uploads")
        self.reports = ensure_dir(self.root / "reports")
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.root / "service.sqlite", check_same_thread=False, isolation_level=None,
                timeout=30.0,
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the service database in {self.root}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- API keys ------------------------------------------------------------------------------

    def create_key(self, name: str) -> tuple[ApiKey, str]:
        """A new key named ``name``: the stored record and the token (shown once)."""
        name = name.strip()
        if not name or len(name) > 64:
            raise UsageError("a key name must be 1-64 characters")
        token = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id=secrets.token_hex(6), name=name, created=time.time(), revoked=None)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone():
                raise UsageError(f"an API key named {name!r} exists (names are unique)")
            db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                       (key.id, key.name, hash_key(token), key.created))
        return key, token

    def revoke_key(self, ident: str) -> ApiKey:
        """Revoke the key with id (or unique name) ``ident``; its jobs stay until retention."""
        with self._tx() as db:
            rows = db.execute("SELECT * FROM api_keys WHERE id = ? OR name = ?",
                              (ident, ident)).fetchall()
            if len(rows) != 1:
                what = "no API key" if not rows else f"{len(rows)} API keys"
                raise UsageError(f"{what} with id or name {ident!r} (see doppelab keys api list)")
            now = time.time()
            db.execute("UPDATE api_keys SET revoked = COALESCE(revoked, ?) WHERE id = ?",
                       (now, rows[0]["id"]))
            row = db.execute("SELECT * FROM api_keys WHERE id = ?", (rows[0]["id"],)).fetchone()
        return _api_key(row)

    def list_keys(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM api_keys ORDER BY created").fetchall()
        return [_api_key(r) for r in rows]

    def key_for_token(self, token: str) -> ApiKey | None:
        """The key whose token is ``token`` (revoked ones included), or None."""
        with self._lock:
            r = self._db.execute("SELECT * FROM api_keys WHERE hash = ?",
                                 (hash_key(token),)).fetchone()
        return None if r is None else _api_key(r)

    # -- jobs ----------------------------------------------------------------------------------

    def add_job(self, *, key_id: str, filename: str, upload: str, kind: str, size: int) -> Job:
        job_id = secrets.token_urlsafe(12)
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, key_id, state, filename, upload, kind, size, created) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, key_id, filename, upload, kind, size, time.time()),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, key_id: str | None = None) -> Job | None:
        """The job, or None when unknown or (with ``key_id``) owned by another key."""
        sql, args = "SELECT * FROM jobs WHERE id = ?", [job_id]
        if key_id is not None:
            sql, args = sql + " AND key_id = ?", [job_id, key_id]
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else _job(row)

    def list_jobs(self, key_id: str, limit: int = 50) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE key_id = ? ORDER BY created DESC LIMIT ?",
                (key_id, limit)).fetchall()
        return [_job(r) for r in rows]

    def counts(self, key_id: str | None = None) -> dict[str, int]:
        """Jobs per state (of one key, or all)."""
        sql = "SELECT state, COUNT(*) FROM jobs" + (" WHERE key_id = ?" if key_id else "")
        with self._lock:
            rows = self._db.execute(sql + " GROUP BY state", (key_id,) if key_id else ())
            return {s: n for s, n in rows.fetchall()}

    def queue_position(self, job: Job) -> int:
        """How many queued jobs were created before ``job`` (0 = next)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND "
                                   "created < ?", (job.created,)).fetchone()
        return int(row[0])

    def claim_next(self) -> Job | None:
        """Oldest queued job, now ``running`` (attempts + 1), or None."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created "
                             "LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', stage = 'starting', started = ?, "
                       "attempts = attempts + 1 WHERE id = ?", (time.time(), row["id"]))
        return self.get(row["id"])

    def set_stage(self, job_id: str, stage: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET stage = ? WHERE id = ? AND state = 'running'",
                       (stage, job_id))

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> bool:
        """Mark a running job done (with ``result``) or failed (with ``error``); False when the
        job is gone (deleted while it ran)."""
        state = "failed" if error is not None else "done"
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state = ?, stage = NULL, finished = ?, error = ?, result = ? "
                "WHERE id = ? AND state = 'running'",
                (state, time.time(), error, json.dumps(result) if result is not None else None,
                 job_id))
        return cur.rowcount == 1

    def requeue(self, job_id: str) -> None:
        """Put a running job back in the queue without counting the attempt (clean shutdown)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'queued', stage = NULL, attempts = attempts - 1 "
                       "WHERE id = ? AND state = 'running'", (job_id,))

    def report_path(self, job_id: str) -> Path:
        """Where a job's HTML report is written."""
        return self.reports / f"{job_id}.html"

    def forget(self, job: Job) -> None:
        """Remove a job's row, its upload and its report."""
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        remove_quietly(self.uploads / job.upload)
        remove_quietly(self.report_path(job.id))

    def recover(self) -> tuple[int, int]:
        """After a restart: running jobs go back to the queue (retried once) or fail with a
        reason. Returns (requeued, failed)."""
        with self._tx() as db:
            again = db.execute(
                "UPDATE jobs SET state = 'queued', stage = NULL, note = 'retried after a server "
                "restart interrupted it' WHERE state = 'running' AND attempts < ?",
                (MAX_ATTEMPTS,)).rowcount
            failed = db.execute(
                "UPDATE jobs SET state = 'failed', stage = NULL, finished = ?, error = 'the "
                "server stopped while running this check, twice; not retried again' "
                "WHERE state = 'running'", (time.time(),)).rowcount
        return again, failed

    def known_files(self) -> tuple[set[str], set[str]]:
        """(upload names, job ids) of every job, to find files no job owns."""
        with self._lock:
            rows = self._db.execute("SELECT upload, id FROM jobs").fetchall()
        return {r[0] for r in rows}, {r[1] for r in rows}

    def expired(self, older_than: float) -> list[Job]:
        """Jobs created before the epoch time ``older_than`` and not running."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE created < ? AND state != 'running'",
                                    (older_than,)).fetchall()
        return [_job(r) for r in rows]
