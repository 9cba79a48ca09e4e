"""The dedup cache: one blob per content, refcounts, pins, LRU limits, rebuild, corrupt index
recovery, concurrent writers, a writer killed with SIGKILL, and invariants under random use."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.cache import cache_manager, storage
from comfyvn.cache.cache_manager import CacheManager, default_root, scan
from comfyvn.core.errors import InvalidInput, NotFound

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def sha(content: bytes | str) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def check_invariants(cache: CacheManager) -> dict:
    """The index on disk agrees with itself and with the blob files; returns the index."""
    index = json.loads(cache.index_path.read_text()) if cache.index_path.exists() else {"entries": {}, "blobs": {}}
    entries = index["entries"]
    refs = Counter(entry["digest"] for entry in entries.values())
    assert {d: b["refcount"] for d, b in index["blobs"].items()} == dict(refs)
    on_disk = storage.on_disk(cache.blobs_dir)
    assert set(on_disk) == set(refs), "every blob is referenced and every referenced blob exists"
    for entry in entries.values():
        assert on_disk[entry["digest"]] == entry["bytes"] == index["blobs"][entry["digest"]]["bytes"]
    assert cache.stats()["bytes"] == sum(on_disk.values())
    assert cache.stats()["logical_bytes"] == sum(entry["bytes"] for entry in entries.values())
    return index


@pytest.fixture
def cache(tmp_path) -> CacheManager:
    return CacheManager(tmp_path / "cache", clock=Clock())


# -- dedup and refcounts ---------------------------------------------------------------------------

def test_identical_files_collapse_into_one_blob(cache, tmp_path):
    a = cache.add(write(tmp_path / "a.png", "same bytes"))
    b = cache.add(write(tmp_path / "sub" / "b.png", "same bytes"))
    c = cache.add(write(tmp_path / "c.png", "other"))
    assert a.digest == b.digest == sha("same bytes") != c.digest
    assert cache.get(tmp_path / "a.png").refcount == 2 and b.refcount == 2 and c.refcount == 1
    assert storage.on_disk(cache.blobs_dir) == {sha("same bytes"): 10, sha("other"): 5}
    stats = cache.stats()
    assert {k: stats[k] for k in ("entries", "blobs", "bytes", "logical_bytes", "saved_bytes")} == {
        "entries": 3, "blobs": 2, "bytes": 15, "logical_bytes": 25, "saved_bytes": 10}
    check_invariants(cache)


def test_blob_is_named_by_its_content_and_found_by_digest(cache, tmp_path):
    entry = cache.add(write(tmp_path / "a.bin", b"\x00\x01payload"))
    blob = cache.lookup(entry.digest)
    assert blob == cache.blobs_dir / entry.digest[:2] / entry.digest
    assert blob.read_bytes() == b"\x00\x01payload"
    assert cache.lookup(entry.digest.upper()) == blob
    assert cache.lookup(sha("never cached")) is None
    with pytest.raises(InvalidInput, match="SHA-256"):
        cache.lookup("abc")


def test_release_deletes_the_blob_only_when_the_last_entry_goes(cache, tmp_path):
    a, b = write(tmp_path / "a", "shared"), write(tmp_path / "b", "shared")
    cache.add(a)
    cache.add(b)
    blob = cache.lookup(sha("shared"))
    assert cache.release(a) == 1
    assert blob.is_file() and cache.get(a) is None and cache.get(b).refcount == 1
    assert cache.release(b) == 0
    assert not blob.exists() and cache.lookup(sha("shared")) is None
    check_invariants(cache)
    with pytest.raises(NotFound, match="not in the dedup cache"):
        cache.release(b)


def test_adding_a_changed_file_moves_it_to_the_new_blob_and_keeps_its_pin(cache, tmp_path):
    path = write(tmp_path / "a.txt", "v1")
    cache.add(path)
    cache.pin(path)
    write(path, "v2")
    entry = cache.add(path)
    assert (entry.digest, entry.pinned, entry.refcount) == (sha("v2"), True, 1)
    assert cache.lookup(sha("v1")) is None and not cache.blob_path(sha("v1")).exists()
    assert len(cache.entries()) == 1
    check_invariants(cache)


def test_adding_the_same_file_twice_keeps_one_entry(cache, tmp_path):
    path = write(tmp_path / "a.txt", "v1")
    first = cache.add(path)
    second = cache.add(tmp_path / "." / "a.txt")  # the same file spelled differently
    assert second.path == first.path == path.resolve().as_posix()
    assert second.refcount == 1 and second.last_access > first.last_access


def test_add_rejects_what_is_not_a_file(cache, tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        cache.add(tmp_path / "missing.png")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInput, match="not a regular file"):
        cache.add(tmp_path / "folder")
    entry = cache.add(write(tmp_path / "a", "x"))
    with pytest.raises(InvalidInput, match="inside the cache folder"):
        cache.add(cache.lookup(entry.digest))


@pytest.mark.parametrize("method", ["pin", "unpin", "touch", "release"])
def test_operations_on_unknown_paths_are_not_found(cache, tmp_path, method):
    with pytest.raises(NotFound, match="add it first"):
        getattr(cache, method)(tmp_path / "nothing")
    assert cache.get(tmp_path / "nothing") is None


@pytest.mark.parametrize("limits", [{"max_entries": -1}, {"max_bytes": -5}, {"max_entries": True},
                                    {"max_bytes": 1.5}])
def test_bad_limits_are_refused(tmp_path, limits):
    with pytest.raises(InvalidInput, match="whole number"):
        CacheManager(tmp_path, **limits)


# -- eviction ------------------------------------------------------------------------------------

def test_eviction_is_least_recently_used_first(tmp_path):
    clock = Clock()
    free = CacheManager(tmp_path / "cache", clock=clock)
    files = [write(tmp_path / f"{name}.txt", name) for name in "abcd"]
    for path in files:
        free.add(path)
    free.touch(files[0])  # a is now the most recent
    assert free.get(files[1]).last_access < free.get(files[0]).last_access
    limited = CacheManager(tmp_path / "cache", max_entries=2, clock=clock)
    evicted = limited.evict()
    assert [Path(e.path).name for e in evicted] == ["b.txt", "c.txt"]
    assert [Path(e.path).name for e in limited.entries()] == ["a.txt", "d.txt"]
    assert limited.evict() == []
    check_invariants(limited)


def test_get_does_not_count_as_a_use(tmp_path):
    cache = CacheManager(tmp_path / "cache", clock=Clock())
    a, b = write(tmp_path / "a", "a"), write(tmp_path / "b", "b")
    cache.add(a)
    cache.add(b)
    before = cache.get(a).last_access
    assert cache.get(a).last_access == before
    assert [Path(e.path).name for e in CacheManager(cache.root, max_entries=1).evict()] == ["a"]


def test_add_enforces_the_entry_limit_and_pins_are_never_evicted(tmp_path):
    cache = CacheManager(tmp_path / "cache", max_entries=2, clock=Clock())
    pinned = write(tmp_path / "keep.txt", "keep")
    cache.add(pinned)
    cache.pin(pinned)
    for name in "abc":
        cache.add(write(tmp_path / f"{name}.txt", name))
    assert sorted(Path(e.path).name for e in cache.entries()) == ["c.txt", "keep.txt"]
    cache.pin(tmp_path / "c.txt")
    cache.add(write(tmp_path / "d.txt", "d"))  # over the limit: only pinned entries and the new file left
    assert sorted(Path(e.path).name for e in cache.entries()) == ["c.txt", "d.txt", "keep.txt"]
    assert [Path(e.path).name for e in cache.evict()] == ["d.txt"]
    assert cache.evict() == []  # two pinned entries, limit 2
    assert {e.pinned for e in cache.entries()} == {True}
    check_invariants(cache)


def test_byte_limit_counts_shared_blobs_once(tmp_path):
    cache = CacheManager(tmp_path / "cache", max_bytes=10, clock=Clock())
    cache.add(write(tmp_path / "a", "xxxxxx"))
    cache.add(write(tmp_path / "b", "xxxxxx"))
    assert cache.stats()["bytes"] == 6  # two entries, one six-byte blob
    cache.add(write(tmp_path / "c", "yyyyyy"))
    # 12 > 10: dropping a frees nothing (b shares its blob), dropping b frees 6
    assert [Path(e.path).name for e in cache.entries()] == ["c"]
    assert cache.stats()["bytes"] == 6 and cache.lookup(sha("xxxxxx")) is None
    check_invariants(cache)


def test_a_file_larger_than_the_byte_limit_is_kept_until_something_else_comes(tmp_path):
    cache = CacheManager(tmp_path / "cache", max_bytes=4, clock=Clock())
    big = write(tmp_path / "big", "0123456789")
    assert cache.add(big).bytes == 10
    assert cache.get(big) is not None
    cache.add(write(tmp_path / "small", "ab"))
    assert [Path(e.path).name for e in cache.entries()] == ["small"]


# -- storage, defaults and the index file ----------------------------------------------------------

def test_default_root_is_under_the_runtime_cache_dir_and_nothing_is_created_early(runtime_root, tmp_path):
    cache = CacheManager()
    assert cache.root == default_root() == (runtime_root / "cache" / "dedup").resolve()
    assert cache.index_path == cache.root / "index.json"
    assert cache.entries() == [] and cache.get(tmp_path / "x") is None and cache.stats()["entries"] == 0
    assert not (runtime_root / "cache").exists()
    cache.add(write(tmp_path / "a", "a"))
    assert cache.index_path.is_file() and cache.blobs_dir.is_dir()


def test_index_file_lists_entries_and_blob_refcounts(cache, tmp_path):
    a, b = write(tmp_path / "a", "same"), write(tmp_path / "b", "same")
    cache.add(a)
    cache.add(b)
    cache.pin(b)
    index = json.loads(cache.index_path.read_text())
    assert index["version"] == 1
    assert index["blobs"] == {sha("same"): {"bytes": 4, "refcount": 2}}
    assert index["entries"][b.resolve().as_posix()] == {
        "bytes": 4, "digest": sha("same"), "last_access": cache.get(b).last_access, "pinned": True}


def test_refcounts_edited_by_hand_are_recounted(cache, tmp_path, caplog):
    cache.add(write(tmp_path / "a", "a"))
    index = json.loads(cache.index_path.read_text())
    index["blobs"][sha("a")]["refcount"] = 7
    cache.index_path.write_text(json.dumps(index))
    with caplog.at_level(logging.WARNING, logger="comfyvn.cache.cache_manager"):
        assert cache.get(tmp_path / "a").refcount == 1
    assert "recounted" in caplog.text


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 1, "entries": []}', b'{"version": 99, "entries": {}}',
                                     b'{"version": 1, "entries": {"/x": {"digest": "nope", "bytes": 1}}}'])
def test_a_bad_index_is_moved_aside_and_rebuild_restores_it(tmp_path, caplog, content):
    assets = tmp_path / "assets"
    write(assets / "a.png", "a")
    cache = CacheManager(tmp_path / "cache")
    cache.rebuild(assets)
    cache.pin(assets / "a.png")
    cache.index_path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="comfyvn.cache.cache_manager"):
        assert cache.entries() == []
    assert "moved aside" in caplog.text
    aside = list(cache.root.glob("index.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert not cache.index_path.exists()
    summary = cache.rebuild(assets)
    assert summary["added"] == 1 and [Path(e.path).name for e in cache.entries()] == ["a.png"]
    assert cache.lookup(sha("a")).read_text() == "a"
    check_invariants(cache)


# -- rebuild ---------------------------------------------------------------------------------------

def make_assets(root: Path) -> Path:
    write(root / "bg" / "room.png", "room")
    write(root / "bg" / "room-copy.png", "room")
    write(root / "bg" / "room.png.asset.json", "{}")  # sidecar: skipped
    write(root / "audio" / "theme.ogg", "theme")
    write(root / ".git" / "objects" / "x", "git object")  # hidden folder: skipped
    write(root / ".DS_Store", "junk")  # hidden file: skipped
    write(root / "bg" / "thumbnails" / "room.256.png", "thumb")  # thumbnail folder: skipped
    write(root / "Thumbs" / "room.512.png", "thumb")
    return root


def test_scan_skips_sidecars_hidden_and_thumbnail_folders_and_links(tmp_path):
    assets = make_assets(tmp_path / "assets")
    (assets / "link.png").symlink_to(assets / "bg" / "room.png")
    (assets / "linked-folder").symlink_to(assets / "bg")
    found = [p.relative_to(assets).as_posix() for p in scan(assets)]
    assert found == ["audio/theme.ogg", "bg/room-copy.png", "bg/room.png"]


def test_rebuild_indexes_the_folder_and_reports_what_it_did(tmp_path):
    assets = make_assets(tmp_path / "assets")
    cache = CacheManager(tmp_path / "cache")
    seen = []
    summary = cache.rebuild(assets, progress=lambda done, total, path: seen.append((done, total, path.name)))
    assert seen == [(1, 3, "theme.ogg"), (2, 3, "room-copy.png"), (3, 3, "room.png")]
    assert {k: summary[k] for k in ("files", "added", "changed", "unchanged", "dropped", "entries", "blobs",
                                    "bytes", "logical_bytes", "saved_bytes")} == {
        "files": 3, "added": 3, "changed": 0, "unchanged": 0, "dropped": 0, "entries": 3, "blobs": 2,
        "bytes": 9, "logical_bytes": 13, "saved_bytes": 4}
    write(assets / "audio" / "theme.ogg", "theme v2")
    (assets / "bg" / "room-copy.png").unlink()
    write(assets / "new.png", "new")
    again = cache.rebuild(assets)
    assert {k: again[k] for k in ("added", "changed", "unchanged", "dropped", "blobs_removed")} == {
        "added": 1, "changed": 1, "unchanged": 1, "dropped": 1, "blobs_removed": 1}
    assert cache.lookup(sha("theme")) is None and cache.lookup(sha("theme v2")) is not None
    check_invariants(cache)


def test_rebuild_keeps_pins_and_access_times_by_default(tmp_path):
    assets = make_assets(tmp_path / "assets")
    cache = CacheManager(tmp_path / "cache", clock=Clock())
    cache.rebuild(assets)
    room = assets / "bg" / "room.png"
    cache.pin(room)
    cache.pin(assets / "audio" / "theme.ogg")
    touched = cache.touch(room).last_access
    (assets / "audio" / "theme.ogg").unlink()
    summary = cache.rebuild(assets)
    assert (summary["pinned"], summary["pins_dropped"]) == (1, 1)  # theme.ogg is gone, its pin with it
    assert cache.get(room).pinned and cache.get(room).last_access == touched
    assert cache.get(assets / "audio" / "theme.ogg") is None
    summary = cache.rebuild(assets, preserve_pins=False)
    assert (summary["pinned"], summary["pins_dropped"]) == (0, 1)
    assert not any(e.pinned for e in cache.entries())


def test_rebuild_drops_entries_outside_the_folder_and_orphan_blobs(tmp_path):
    assets = make_assets(tmp_path / "assets")
    cache = CacheManager(tmp_path / "cache")
    cache.add(write(tmp_path / "elsewhere.png", "elsewhere"))
    orphan_source = write(tmp_path / "orphan", "orphan")
    storage.store(cache.blobs_dir, orphan_source)  # a blob left by a writer killed before its index save
    summary = cache.rebuild(assets)
    assert summary["dropped"] == 1 and summary["blobs_removed"] == 2
    assert cache.get(tmp_path / "elsewhere.png") is None
    check_invariants(cache)


def test_rebuild_never_caches_the_cache_itself(tmp_path):
    assets = make_assets(tmp_path / "assets")
    cache = CacheManager(assets / "cache")
    cache.rebuild(assets)
    summary = cache.rebuild(assets)
    assert summary["entries"] == 3 and summary["added"] == 0
    assert not any(e.path.startswith(cache.root.as_posix()) for e in cache.entries())


def test_rebuild_enforces_the_limits(tmp_path):
    assets = make_assets(tmp_path / "assets")
    cache = CacheManager(tmp_path / "cache", max_entries=1)
    summary = cache.rebuild(assets)
    assert (summary["entries"], summary["evicted"]) == (1, 2)
    check_invariants(cache)


def test_rebuild_rejects_a_missing_folder_or_a_file(tmp_path, cache):
    with pytest.raises(NotFound, match="does not exist"):
        cache.rebuild(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="not a folder"):
        cache.rebuild(write(tmp_path / "file", "x"))


# -- concurrency and crashes -----------------------------------------------------------------------

def test_threads_adding_at_once_lose_no_entry(tmp_path):
    cache = CacheManager(tmp_path / "cache")
    files = [write(tmp_path / "files" / f"{i}.txt", f"content {i % 5}") for i in range(40)]
    errors = []

    def worker(chunk):
        try:
            other = CacheManager(tmp_path / "cache")  # a second manager on the same index, as another part would
            for path in chunk:
                (cache if int(path.stem) % 2 else other).add(path)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(files[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(cache.entries()) == 40 and cache.stats()["blobs"] == 5
    check_invariants(cache)


_KILL_CHILD = r"""
import os, random, sys
from pathlib import Path
from comfyvn.cache.cache_manager import CacheManager
root, files = Path(sys.argv[1]), Path(sys.argv[2])
cache = CacheManager(root, max_entries=6)
rng = random.Random(int(sys.argv[3]))
i = 0
while True:
    path = files / f"{i % 9}.bin"
    path.write_bytes(os.urandom(rng.randint(1, 200_000)) if i % 3 else b"shared")
    cache.add(path)
    if i % 4 == 0:
        cache.pin(path)
    if i % 5 == 0:
        try:
            cache.release(files / f"{(i + 4) % 9}.bin")
        except Exception:
            pass
    i += 1
"""


def test_sigkill_during_cache_writes_leaves_a_readable_index(tmp_path):
    root, files = tmp_path / "cache", tmp_path / "files"
    files.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    cache = CacheManager(root)
    for round_no in range(4):
        child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(root), str(files), str(round_no)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen: set[bytes] = set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None and len(seen) < 4:
                try:
                    raw = cache.index_path.read_bytes()
                except FileNotFoundError:
                    continue
                json.loads(raw)  # a reader never sees a half-written index
                seen.add(raw)
                time.sleep(0.002)
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            time.sleep(0.004 * round_no)  # land the kill at different points of a write
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            if child.stderr:
                child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        index = json.loads(cache.index_path.read_text())  # never torn
        assert not list(root.glob("index.json.corrupt-*"))
        for entry in index["entries"].values():  # every blob the index names is there and whole
            assert storage.hash_file(cache.blob_path(entry["digest"])) == (entry["digest"], entry["bytes"])
        assert set(storage.on_disk(cache.blobs_dir)) >= set(index["blobs"])  # at most extra orphans
    summary = cache.rebuild(files)  # and the cache is usable afterwards
    assert summary["entries"] == len(list(files.iterdir()))
    check_invariants(cache)


def test_a_failed_index_write_leaves_every_named_blob_in_place(tmp_path, monkeypatch):
    cache = CacheManager(tmp_path / "cache", max_entries=1, clock=Clock())
    a, b = write(tmp_path / "a", "a"), write(tmp_path / "b", "b")
    cache.add(a)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_manager, "atomic_write_json", disk_full)
    with pytest.raises(OSError):
        cache.release(a)
    with pytest.raises(OSError):
        cache.add(b)  # would evict a
    monkeypatch.undo()
    assert [Path(e.path).name for e in cache.entries()] == ["a"]
    assert cache.lookup(sha("a")).read_text() == "a"  # the index still names it, so it is still there


# -- invariants under random use -------------------------------------------------------------------

OPS = st.one_of(
    st.tuples(st.sampled_from(["add", "release", "pin", "unpin", "touch"]), st.integers(0, 4)),
    st.tuples(st.just("write"), st.integers(0, 4), st.integers(0, 3)),
    st.tuples(st.just("evict")),
)
CONTENTS = [b"", b"alpha", b"alpha", b"beta" * 3, b"gamma" * 5]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=25), max_entries=st.sampled_from([None, 1, 3]),
       max_bytes=st.sampled_from([None, 12, 40]))
def test_random_use_keeps_the_cache_consistent(ops, max_entries, max_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = [write(tmp / "files" / f"{i}.bin", CONTENTS[i]) for i in range(5)]
        cache = CacheManager(tmp / "cache", max_entries=max_entries, max_bytes=max_bytes, clock=Clock())
        cached: set[str] = set()
        pinned: set[str] = set()
        for op in ops:
            name = op[0]
            key = files[op[1]].resolve().as_posix() if len(op) > 1 else None
            if name == "write":
                write(files[op[1]], CONTENTS[op[2]] + b"!")
            elif name == "add":
                entry = cache.add(files[op[1]])
                assert entry.digest == sha(files[op[1]].read_bytes())
                cached.add(key)
            elif name == "evict":
                cache.evict()
            elif key not in cached:
                with pytest.raises(NotFound):
                    getattr(cache, name)(files[op[1]])
            elif name == "release":
                cache.release(files[op[1]])
                cached.discard(key)
                pinned.discard(key)
            else:  # pin, unpin or touch a cached path
                if name == "pin":
                    pinned.add(key)
                elif name == "unpin":
                    pinned.discard(key)
                assert getattr(cache, name)(files[op[1]]).pinned == (key in pinned)
            present = {e.path for e in cache.entries()}
            assert pinned <= present <= cached  # pins are never evicted; only added paths appear
            cached = present
            assert {e.path for e in cache.entries() if e.pinned} == pinned
            if name in ("add", "evict"):  # over a limit only when nothing evictable is left
                unpinned = [e for e in cache.entries() if not e.pinned and e.path != (key if name == "add" else None)]
                stats = cache.stats()
                over = ((max_entries is not None and stats["entries"] > max_entries)
                        or (max_bytes is not None and stats["bytes"] > max_bytes))
                assert not (over and unpinned)
            check_invariants(cache)
        for entry in cache.entries():
            assert storage.hash_file(cache.blob_path(entry.digest)) == (entry.digest, entry.bytes)
