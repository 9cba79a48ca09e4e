"""SQLite history of jobs and their log lines (stdlib sqlite3, WAL).

The job manager is the only writer inside a process; the CLI and the server may both write the
same file, which WAL mode allows. A job row holds the JSON form of the job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS job_logs (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
"""

ACTIVE_STATES = ("queued", "delayed", "running")


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs(id, kind, state, created_at, updated_at, body) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at, "
                "body=excluded.body",
                (job["id"], job["kind"], job["state"], job["created_at"], time.time(), json.dumps(job)),
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM jobs WHERE id=?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(
        self, *, states: list[str] | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        sql = "SELECT body FROM jobs"
        where, args = [], []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args.extend([limit, offset])
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: count for state, count in rows}

    def append_log(self, job_id: str, seq: int, line: str, ts: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO job_logs(job_id, seq, ts, line) VALUES (?,?,?,?)",
                (job_id, seq, ts if ts is not None else time.time(), line),
            )

    def logs(self, job_id: str, *, offset: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, line FROM job_logs WHERE job_id=? AND seq>=? ORDER BY seq LIMIT ?",
                (job_id, offset, limit),
            ).fetchall()
        return [{"seq": seq, "ts": ts, "line": line} for seq, ts, line in rows]

    def last_log_seq(self, job_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM job_logs WHERE job_id=?", (job_id,)).fetchone()
        return -1 if row[0] is None else int(row[0])

    def delete_finished(self, *, keep: int = 0) -> int:
        """Delete finished jobs (and their logs), keeping the ``keep`` most recent ones."""
        placeholders = ",".join("?" * len(ACTIVE_STATES))
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    f"SELECT id FROM jobs WHERE state NOT IN ({placeholders}) "
                    "ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?",
                    (*ACTIVE_STATES, keep),
                ).fetchall()
            ]
            if not ids:
                return 0
            self._db.execute("BEGIN")
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM job_logs WHERE job_id IN ({marks})", chunk)
                self._db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            self._db.execute("COMMIT")
        return len(ids)

    def active(self) -> list[dict[str, Any]]:
        return self.list(states=list(ACTIVE_STATES), limit=1_000_000)
