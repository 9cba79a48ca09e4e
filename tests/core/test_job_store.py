"""JobStore: the SQLite history of jobs and their log lines."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from comfyvn.core.job_store import JobStore


def job(job_id: str, *, state: str = "queued", kind: str = "k.a", created_at: float = 1.0, **extra) -> dict:
    return {"id": job_id, "kind": kind, "state": state, "created_at": created_at, **extra}


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "db" / "jobs.sqlite3")
    yield s
    s.close()


def test_creates_parent_folder_and_uses_wal(tmp_path):
    path = tmp_path / "deep" / "er" / "jobs.sqlite3"
    s = JobStore(path)
    try:
        assert path.is_file()
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"
    finally:
        s.close()


def test_save_get_round_trip_and_upsert(store):
    assert store.get("nope") is None
    store.save(job("a", params={"x": [1, 2]}, progress=0.0))
    assert store.get("a") == job("a", params={"x": [1, 2]}, progress=0.0)

    store.save(job("a", state="running", params={"x": [1, 2]}, progress=0.5))
    got = store.get("a")
    assert got["state"] == "running" and got["progress"] == 0.5
    assert len(store.list()) == 1
    assert store.counts() == {"running": 1}


def test_list_newest_first_with_filters_and_paging(store):
    store.save(job("a", created_at=1.0, state="succeeded"))
    store.save(job("b", created_at=3.0, state="queued", kind="k.b"))
    store.save(job("c", created_at=2.0, state="failed"))
    store.save(job("d", created_at=4.0, state="succeeded", kind="k.b"))

    assert [j["id"] for j in store.list()] == ["d", "b", "c", "a"]
    assert [j["id"] for j in store.list(states=["succeeded"])] == ["d", "a"]
    assert [j["id"] for j in store.list(states=["succeeded", "failed"])] == ["d", "c", "a"]
    assert [j["id"] for j in store.list(kind="k.b")] == ["d", "b"]
    assert [j["id"] for j in store.list(kind="k.b", states=["queued"])] == ["b"]
    assert [j["id"] for j in store.list(limit=2)] == ["d", "b"]
    assert [j["id"] for j in store.list(limit=2, offset=2)] == ["c", "a"]
    assert store.list(offset=10) == []
    assert store.list(kind="missing") == []
    assert store.counts() == {"succeeded": 2, "queued": 1, "failed": 1}


def test_same_created_at_is_ordered_by_id_descending(store):
    for job_id in ("m", "z", "a"):
        store.save(job(job_id, created_at=5.0))
    assert [j["id"] for j in store.list()] == ["z", "m", "a"]


def test_active_lists_only_unfinished_jobs(store):
    for job_id, state in [("q", "queued"), ("d", "delayed"), ("r", "running"), ("s", "succeeded"),
                          ("f", "failed"), ("c", "cancelled")]:
        store.save(job(job_id, state=state))
    assert sorted(j["id"] for j in store.active()) == ["d", "q", "r"]


def test_logs_in_order_with_offset_limit_and_replace(store):
    assert store.logs("a") == []
    assert store.last_log_seq("a") == -1
    for seq in (2, 0, 1):
        store.append_log("a", seq, f"line {seq}", ts=100.0 + seq)
    store.append_log("b", 0, "other job")

    assert store.logs("a") == [
        {"seq": 0, "ts": 100.0, "line": "line 0"},
        {"seq": 1, "ts": 101.0, "line": "line 1"},
        {"seq": 2, "ts": 102.0, "line": "line 2"},
    ]
    assert [x["seq"] for x in store.logs("a", offset=1)] == [1, 2]
    assert [x["seq"] for x in store.logs("a", limit=2)] == [0, 1]
    assert store.last_log_seq("a") == 2

    store.append_log("a", 1, "replaced", ts=5.0)
    assert store.logs("a", offset=1, limit=1) == [{"seq": 1, "ts": 5.0, "line": "replaced"}]
    [other] = store.logs("b")
    assert other["line"] == "other job" and other["ts"] > 0


def test_delete_finished_keeps_active_and_most_recent(store):
    store.save(job("old", state="succeeded", created_at=1.0))
    store.save(job("mid", state="failed", created_at=2.0))
    store.save(job("new", state="cancelled", created_at=3.0))
    store.save(job("run", state="running", created_at=0.5))
    store.save(job("que", state="queued", created_at=0.1))
    for job_id in ("old", "mid", "new", "run"):
        store.append_log(job_id, 0, f"{job_id} says hi")

    assert store.delete_finished(keep=1) == 2
    assert sorted(j["id"] for j in store.list()) == ["new", "que", "run"]
    assert store.logs("old") == [] and store.logs("mid") == []
    assert [x["line"] for x in store.logs("new")] == ["new says hi"]
    assert [x["line"] for x in store.logs("run")] == ["run says hi"]

    assert store.delete_finished() == 1
    assert sorted(j["id"] for j in store.list()) == ["que", "run"]
    assert store.delete_finished() == 0


def test_delete_finished_handles_more_than_one_chunk(store):
    for n in range(1203):
        store.save(job(f"j{n:05d}", state="succeeded", created_at=float(n)))
        store.append_log(f"j{n:05d}", 0, "x")
    store.save(job("active", state="running"))
    assert store.delete_finished(keep=3) == 1200
    assert [j["id"] for j in store.list()] == ["j01202", "j01201", "j01200", "active"]
    assert store.logs("j00000") == []


def test_history_survives_reopening(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    first = JobStore(path)
    first.save(job("a", state="succeeded", result={"ok": True}))
    first.append_log("a", 0, "hello")
    first.close()

    second = JobStore(path)
    try:
        assert second.get("a")["result"] == {"ok": True}
        assert [x["line"] for x in second.logs("a")] == ["hello"]
    finally:
        second.close()


def test_two_connections_on_one_file_see_each_other(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    server, cli = JobStore(path), JobStore(path)
    try:
        cli.save(job("from-cli", state="running"))
        assert server.get("from-cli")["state"] == "running"
        server.save(job("from-cli", state="failed"))
        assert cli.get("from-cli")["state"] == "failed"
    finally:
        server.close()
        cli.close()


def test_concurrent_writers_from_threads(store):
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            for n in range(100):
                store.save(job(f"{prefix}{n}", created_at=float(n)))
                store.append_log(f"{prefix}{n}", 0, "line")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(store.list(limit=1000)) == 400
    assert store.counts() == {"queued": 400}
