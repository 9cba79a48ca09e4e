"""The asset search index: SQLite (WAL) derived entirely from the sidecars, so it can always be
thrown away and rebuilt (:meth:`AssetIndex.rebuild`).

A write first records the asset's uid in ``pending`` (committed), then changes the files, then
updates the row and clears the mark in one transaction. After a crash, :meth:`AssetIndex.open`
re-reads the sidecars of the marked uids, so the index matches the files again without a full
rebuild.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
SEARCH_LIMIT = 4000  # characters of searchable text kept per asset
# ``assets`` holds what filters read (kept narrow so scans touch few pages); the whole sidecar is
# in ``sidecars``, read only for the rows returned; ``tags`` repeats the type so one index range
# answers "tag + type".
SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, type TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL, bytes INTEGER NOT NULL, created_at TEXT NOT NULL, search TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assets_type ON assets(type, path);
CREATE INDEX IF NOT EXISTS assets_hash ON assets(hash);
CREATE TABLE IF NOT EXISTS sidecars (id INTEGER PRIMARY KEY, sidecar TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (tag TEXT NOT NULL, type TEXT NOT NULL, id INTEGER NOT NULL,
    PRIMARY KEY (tag, type, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_id ON tags(id);
CREATE TABLE IF NOT EXISTS pending (uid TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def search_text(sidecar: dict[str, Any]) -> str:
    """What ``q`` matches (lower-case): path, type, tags, licence, origin, and the text in meta and
    provenance."""
    words: list[str] = [sidecar.get("path", ""), sidecar.get("type", ""), *sidecar.get("tags", []),
                        sidecar.get("license") or "", sidecar.get("origin") or ""]
    _strings(sidecar.get("meta"), words)
    _strings(sidecar.get("provenance"), words)
    return " ".join(w for w in words if w).lower()[:SEARCH_LIMIT]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):  # sorted: the same text whatever order the keys were added in
        for key in sorted(value):
            _strings(value[key], out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _like(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class AssetIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._generation = 0
        self.recreated = False  # set when an unreadable or outdated file was replaced by an empty index

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):  # an older layout: derived data, so start again
            db.close()
            remove_index(self.path)
            self.recreated = True
            return self._connect()
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return db

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (one per thread; :meth:`close` closes them all)."""
        db = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "generation", None) != self._generation:
            db = None  # closed by close() from another thread
        if db is None:
            try:
                db = self._connect()
            except sqlite3.DatabaseError as exc:  # not a database any more: derived data, start again
                log.warning("asset index %s is unreadable (%s); recreating it", self.path, exc)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self.recreated = True
                db = self._connect()
            self._local.db, self._local.generation = db, self._generation
            with self._all_lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection (the next use in any thread opens a new one)."""
        with self._all_lock:
            connections, self._all = self._all, []
            self._generation += 1
        for db in connections:
            try:
                db.close()
            except sqlite3.Error:  # in use by its thread right now: it is dropped with the thread
                log.debug("asset index connection could not be closed", exc_info=True)
        self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- writes -------------------------------------------------------------------------------
    def mark(self, uids: Iterable[str]) -> None:
        """Record that the files of ``uids`` are about to change (see the module docstring)."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO pending(uid) VALUES (?)", [(u,) for u in uids])

    def pending(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT uid FROM pending ORDER BY uid")]

    def put(self, sidecars: Iterable[dict[str, Any]], *, db: sqlite3.Connection | None = None) -> None:
        """Insert or replace the rows of ``sidecars`` and clear their pending marks."""
        if db is None:
            with self.transaction() as db:
                return self.put(sidecars, db=db)
        for sidecar in sidecars:
            uid = sidecar["uid"]
            self._delete(db, "uid = ? OR path = ?", (uid, sidecar["path"]))
            row = db.execute("INSERT INTO assets (uid, type, path, hash, bytes, created_at, search) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                             (uid, sidecar["type"], sidecar["path"], sidecar["hash"], sidecar["bytes"],
                              sidecar["created_at"], search_text(sidecar))).fetchone()
            db.execute("INSERT INTO sidecars VALUES (?, ?)",  # sorted keys, as in the file
                       (row[0], orjson.dumps(sidecar, option=orjson.OPT_SORT_KEYS).decode()))
            db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?, ?)",
                           [(t, sidecar["type"], row[0]) for t in sidecar.get("tags", [])])
            db.execute("DELETE FROM pending WHERE uid = ?", (uid,))
        return None

    def drop(self, uids: Iterable[str], *, db: sqlite3.Connection | None = None) -> None:
        if db is None:
            with self.transaction() as db:
                return self.drop(uids, db=db)
        for uid in uids:
            self._delete(db, "uid = ?", (uid,))
            db.execute("DELETE FROM pending WHERE uid = ?", (uid,))
        return None

    @staticmethod
    def _delete(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> None:
        for (row_id,) in db.execute(f"SELECT id FROM assets WHERE {where}", args).fetchall():
            for table, key in (("tags", "id"), ("sidecars", "id"), ("assets", "id")):
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (row_id,))

    def reconcile(self, load: Callable[[str], dict[str, Any] | None]) -> list[str]:
        """Bring the rows of pending uids in line with their sidecars (``load(uid)``: the sidecar
        now on disk, or ``None`` when the asset is gone). Returns the uids it fixed."""
        uids = self.pending()
        if uids:
            with self.transaction() as db:
                for uid in uids:
                    sidecar = load(uid)
                    self.put([sidecar], db=db) if sidecar else self.drop([uid], db=db)
            log.info("asset index: reconciled %d asset(s) left pending by an interrupted write", len(uids))
        return uids

    def rebuild(self, sidecars: Iterable[dict[str, Any]]) -> int:
        """Replace everything with ``sidecars`` in one transaction (readers see old or new, never half)."""
        count = 0
        with self.transaction() as db:
            for table in ("tags", "assets", "sidecars", "pending"):
                db.execute(f"DELETE FROM {table}")
            for batch in _batches(sidecars, 1000):
                self.put(batch, db=db)
                count += len(batch)
        return count

    # -- reads --------------------------------------------------------------------------------
    def get(self, uid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT sidecar FROM assets a JOIN sidecars s ON s.id = a.id WHERE a.uid = ?",
                              (uid,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def uid_at(self, path: str) -> str | None:
        row = self.db.execute("SELECT uid FROM assets WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def query(self, *, type: str | None = None, hash: str | None = None, tags: Iterable[str] = (),
              q: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Matching sidecars ordered by path, and how many match in all. Every tag must be present.

        With a tag, the search starts from that tag's index range (narrowed by type), which is
        small however large the project; otherwise from the type's range or the whole table."""
        tags = list(dict.fromkeys(tags))
        source, where, args = "assets a", [], []
        if tags:  # CROSS JOIN: SQLite keeps this order, so the tag range drives the search
            source = "tags t CROSS JOIN assets a ON a.id = t.id"
            where.append("t.tag = ?")
            args.append(tags[0])
            if type:
                where.append("t.type = ?")
                args.append(type)
        if type:
            where.append("a.type = ?")
            args.append(type)
        if hash:
            where.append("a.hash = ?")
            args.append(hash.lower())
        for tag in tags[1:]:
            where.append("a.id IN (SELECT id FROM tags WHERE tag = ?)")
            args.append(tag)
        if q:
            where.append("a.search LIKE ? ESCAPE '\\'")
            args.append(_like(q))
        clause = f" FROM {source}" + (" WHERE " + " AND ".join(where) if where else "")
        # one pass: the window counts every match before LIMIT keeps one page
        rows = self.db.execute(f"SELECT a.id, COUNT(*) OVER (){clause} ORDER BY a.path LIMIT ? OFFSET ?",
                               [*args, limit, offset]).fetchall()
        if not rows:
            total = self.db.execute(f"SELECT COUNT(*){clause}", args).fetchone()[0] if offset else 0
            return [], total
        ids = [row[0] for row in rows]
        found = dict(self.db.execute(f"SELECT id, sidecar FROM sidecars WHERE id IN ({','.join('?' * len(ids))})",
                                     ids).fetchall())
        return [orjson.loads(found[i]) for i in ids if i in found], rows[0][1]

    def preview_pending(self) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT a.uid FROM assets a JOIN sidecars s ON s.id = a.id "
            "WHERE json_extract(s.sidecar, '$.preview.status') = 'pending' ORDER BY a.path")]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM assets").fetchone()[0]

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every row (search text and tags included), for comparing an index with its rebuild."""
        rows = self.db.execute("SELECT a.uid, type, path, hash, bytes, created_at, search, sidecar FROM assets a "
                               "JOIN sidecars s ON s.id = a.id ORDER BY a.uid").fetchall()
        tags = self.db.execute("SELECT t.tag, t.type, a.uid FROM tags t JOIN assets a ON a.id = t.id "
                               "ORDER BY a.uid, t.tag").fetchall()
        return [*rows, *tags]


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def remove_index(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
