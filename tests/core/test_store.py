"""The JSON store: atomic writes, corrupt files moved aside, merge helpers, JsonDocument with its
cross-process lock (including a writer killed with SIGKILL mid-save)."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.core import store
from comfyvn.core.store import (
    JsonDocument,
    atomic_write_bytes,
    atomic_write_json,
    deep_merge,
    dumps,
    get_path,
    nest,
    read_json,
)

ROOT = Path(__file__).resolve().parents[2]


def _child_env(runtime_root: Path) -> dict[str, str]:
    return {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}


# -- atomic writes ---------------------------------------------------------------------------------
def test_atomic_write_bytes_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "file.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_write_applies_mode(tmp_path):
    target = tmp_path / "secret"
    atomic_write_bytes(target, b"x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write_json(tmp_path / "doc.json", {"a": 1}, mode=0o640)
    assert stat.S_IMODE((tmp_path / "doc.json").stat().st_mode) == 0o640


def test_failed_write_keeps_old_content_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"version": 1})

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_json(target, {"version": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_interrupted_write_cleans_up_on_keyboard_interrupt(tmp_path, monkeypatch):
    target = tmp_path / "doc.json"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"data")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_dumps_is_canonical():
    text = dumps({"b": 1, "a": {"d": "é", "c": [1, 2]}})
    assert text.endswith("\n")
    assert text.index('"a"') < text.index('"b"')
    assert text.index('"c"') < text.index('"d"')
    assert "é" in text  # not \u00e9
    assert '\n  "a": {\n    "c": [' in text
    assert json.loads(text) == {"b": 1, "a": {"d": "é", "c": [1, 2]}}


# -- read_json -------------------------------------------------------------------------------------
def test_read_json_missing_gives_a_copy_of_default(tmp_path):
    default = {"nested": {"list": [1]}}
    got = read_json(tmp_path / "missing.json", default=default)
    assert got == default
    got["nested"]["list"].append(2)
    assert default == {"nested": {"list": [1]}}
    assert read_json(tmp_path / "missing.json") is None


def test_read_json_moves_corrupt_file_aside(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text('{"server": {"port": 80')
    with caplog.at_level(logging.ERROR, logger="comfyvn.core.store"):
        assert read_json(path, default={"fallback": True}) == {"fallback": True}
    assert not path.exists()
    aside = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_text() == '{"server": {"port": 80'
    record = next(r for r in caplog.records if r.getMessage() == "Unreadable JSON file moved aside")
    assert record.path == str(path)
    assert record.moved_to == str(aside[0])
    # the next write starts fresh and works
    JsonDocument(path).update({"server": {"port": 81}})
    assert read_json(path) == {"server": {"port": 81}}


def test_read_json_handles_invalid_utf8(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert read_json(path, default=[]) == []
    assert len(list(tmp_path.glob("bin.json.corrupt-*"))) == 1


def test_repeated_corruption_keeps_every_corrupt_copy(tmp_path):
    """Each unreadable version is the user's data: a second one must not overwrite the first."""
    path = tmp_path / "comfyvn.json"
    contents = ['{"first": ', '{"second": ', '{"third": ']
    for text in contents:
        path.write_text(text)
        assert read_json(path, default={}) == {}
    kept = sorted(p.read_text() for p in tmp_path.glob("comfyvn.json.corrupt-*"))
    assert kept == sorted(contents)


def test_concurrent_readers_of_a_corrupt_file_do_not_crash(tmp_path):
    """Several readers may find the same corrupt file; only one moves it, none may fail."""
    path = tmp_path / "shared.json"
    errors: list[BaseException] = []
    for _round in range(30):
        path.write_text("{not json")
        barrier = threading.Barrier(6)

        def reader() -> None:
            barrier.wait()
            try:
                assert read_json(path, default={"d": 1}) == {"d": 1}
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert not path.exists()
    assert len(list(tmp_path.glob("shared.json.corrupt-*"))) == 30  # one kept copy per corruption


# -- merge helpers ---------------------------------------------------------------------------------
def test_deep_merge_semantics_and_inputs_untouched():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"keep": True}}
    patch = {"a": {"y": [3], "z": {"deep": 1}}, "b": {"now": "object"}, "c": 5}
    base_before = json.loads(json.dumps(base))
    patch_before = json.loads(json.dumps(patch))
    merged = deep_merge(base, patch)
    assert merged == {"a": {"x": 1, "y": [3], "z": {"deep": 1}}, "b": {"now": "object"}, "c": 5}
    assert base == base_before and patch == patch_before
    merged["a"]["z"]["deep"] = 99
    merged["a"]["y"].append(4)
    assert patch == patch_before


def test_get_path_and_nest():
    data = {"server": {"port": 8001, "opts": {"x": None}}, "flat": 1}
    assert get_path(data, "server.port") == 8001
    assert get_path(data, "server.opts.x", "dflt") is None
    assert get_path(data, "server.missing", "dflt") == "dflt"
    assert get_path(data, "flat.deeper", "dflt") == "dflt"
    assert get_path(data, "server") == {"port": 8001, "opts": {"x": None}}
    assert nest("a.b.c", 1) == {"a": {"b": {"c": 1}}}
    assert nest("single", [1]) == {"single": [1]}
    for bad in ("", ".a", "a.", "a..b"):
        with pytest.raises(ValueError, match="empty segment"):
            nest(bad, 1)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                      st.lists(st.integers(), max_size=3))
key = st.text(alphabet="abcxyz", min_size=1, max_size=3)
json_obj = st.recursive(
    st.dictionaries(key, json_leaf, max_size=4),
    lambda children: st.dictionaries(key, st.one_of(json_leaf, children), max_size=4),
    max_leaves=20,
)


def _leaves(data, prefix=()):
    """(path, value) for every non-object value."""
    for k, v in data.items():
        if isinstance(v, dict):
            yield from _leaves(v, (*prefix, k))
        else:
            yield (*prefix, k), v


@settings(max_examples=200, deadline=None)
@given(json_obj, json_obj)
def test_deep_merge_laws(a, b):
    a_copy, b_copy = json.loads(json.dumps(a)), json.loads(json.dumps(b))
    merged = deep_merge(a, b)
    assert a == a_copy and b == b_copy  # inputs untouched
    assert deep_merge(a, {}) == a  # right identity
    assert deep_merge({}, b) == b  # left identity
    assert deep_merge(merged, b) == merged  # applying the same patch again changes nothing
    for path, value in _leaves(b):  # every value of the patch wins
        assert get_path(merged, ".".join(path), object()) == value
    _assert_base_kept(a, b, merged)


def _assert_base_kept(base, patch, merged):
    """What the patch does not mention survives; objects on both sides merge recursively."""
    for k, v in base.items():
        if k not in patch:
            assert merged[k] == v
        elif isinstance(v, dict) and isinstance(patch[k], dict):
            _assert_base_kept(v, patch[k], merged[k])


@settings(max_examples=200, deadline=None)
@given(st.lists(key, min_size=1, max_size=5), json_leaf, json_obj)
def test_nest_get_path_round_trip(parts, value, base):
    dotted = ".".join(parts)
    nested = nest(dotted, value)
    assert get_path(nested, dotted, object()) == value
    assert list(_leaves(nested)) == [(tuple(parts), value)]
    merged = deep_merge(base, nested)
    assert get_path(merged, dotted, object()) == value
    # untouched top-level sections survive a dotted set
    for k, v in base.items():
        if k != parts[0]:
            assert merged[k] == v


# -- JsonDocument ----------------------------------------------------------------------------------
def test_document_update_merges_and_persists(tmp_path):
    path = tmp_path / "deep" / "doc.json"
    doc = JsonDocument(path)
    assert doc.read() == {}
    assert doc.update({"a": {"x": 1}}) == {"a": {"x": 1}}
    assert doc.update({"a": {"y": 2}, "b": True}) == {"a": {"x": 1, "y": 2}, "b": True}
    assert json.loads(path.read_text()) == {"a": {"x": 1, "y": 2}, "b": True}
    assert JsonDocument(path).read() == {"a": {"x": 1, "y": 2}, "b": True}
    assert (tmp_path / "deep" / ".doc.json.lock").exists()


def test_document_mutate_in_place_or_replace(tmp_path):
    doc = JsonDocument(tmp_path / "doc.json")
    doc.update({"keep": 1, "drop": 2})

    def in_place(data):
        data["added"] = True

    assert doc.mutate(in_place) == {"keep": 1, "drop": 2, "added": True}
    assert doc.mutate(lambda data: {"only": "this"}) == {"only": "this"}
    assert doc.read() == {"only": "this"}


def test_document_mutate_error_leaves_file_alone(tmp_path):
    doc = JsonDocument(tmp_path / "doc.json")
    doc.update({"v": 1})

    def broken(data):
        data["v"] = 2
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError):
        doc.mutate(broken)
    assert doc.read() == {"v": 1}
    doc.update({"v": 3})  # the lock was released
    assert doc.read() == {"v": 3}


def test_document_that_is_not_an_object_reads_empty(tmp_path, caplog):
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]")
    with caplog.at_level(logging.ERROR, logger="comfyvn.core.store"):
        assert JsonDocument(path).read() == {}
    assert any("not an object" in r.getMessage() for r in caplog.records)
    assert JsonDocument(path).update({"a": 1}) == {"a": 1}


def test_threads_updating_one_document_lose_nothing(tmp_path):
    path = tmp_path / "doc.json"

    def worker(name: str) -> None:
        doc = JsonDocument(path)  # one instance per thread, like separate callers
        for i in range(25):
            doc.update({name: {str(i): i}})

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = JsonDocument(path).read()
    assert data == {f"t{n}": {str(i): i for i in range(25)} for n in range(4)}


_KILL_CHILD = r"""
import hashlib, sys
from comfyvn.core.store import JsonDocument
from comfyvn.config.settings import SettingsManager
round_no = int(sys.argv[1])
settings = SettingsManager()
doc = JsonDocument(settings.path)
i = 0
while True:
    blob = hashlib.sha256(f"{round_no}-{i}".encode()).hexdigest() * 4000
    payload = {"crash": {"round": round_no, "i": i, "blob": blob}}
    if i % 2:
        settings.save(payload)
    else:
        doc.update(payload)
    i += 1
"""


def test_sigkill_during_repeated_saves_never_tears_the_file(runtime_root):
    import hashlib

    from comfyvn.config.settings import SettingsManager

    settings_ = SettingsManager()
    settings_.save({"keep": {"name": "untouched", "list": [1, 2, 3]}})
    env = _child_env(runtime_root)
    last = (-1, -1)
    for round_no in range(5):
        child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(round_no)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and child.poll() is None:
                current = settings_.stored().get("crash", {})
                if current.get("round") == round_no and current.get("i", 0) >= 3 + round_no * 2:
                    break
                time.sleep(0.005)
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            time.sleep(0.003 * round_no)  # land the kill at different points of a save
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            if child.stderr:
                child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        raw = settings_.path.read_text(encoding="utf-8")
        data = json.loads(raw)  # never torn
        assert not list(settings_.path.parent.glob("settings.json.corrupt-*"))
        assert data["keep"] == {"name": "untouched", "list": [1, 2, 3]}
        crash = data["crash"]
        assert crash["round"] == round_no
        assert crash["blob"] == hashlib.sha256(f"{round_no}-{crash['i']}".encode()).hexdigest() * 4000
        assert (crash["round"], crash["i"]) > last
        last = (crash["round"], crash["i"])
        # the killed writer may leave its lock file behind; the next save must still work
        effective = settings_.save({"after": {"round": round_no}})
        assert effective["after"] == {"round": round_no}
        assert effective["crash"]["i"] == crash["i"]
    assert settings_.get("keep.name") == "untouched"


_SECTION_CHILD = r"""
import os, sys, time
from comfyvn.config.settings import SettingsManager
section, count, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
manager = SettingsManager()
open(go + "." + section, "w").close()  # ready
while not os.path.exists(go):  # start together with the other writer
    time.sleep(0.001)
for i in range(count):
    if i % 2:
        manager.set(f"{section}.items.k{i}", i)
    else:
        manager.save({section: {"items": {f"k{i}": i}, "last": i}})
    manager.set(f"{section}.last", i)
print("done")
"""


def test_two_processes_editing_different_sections_do_not_clobber(runtime_root):
    from comfyvn.config.settings import SettingsManager

    SettingsManager().save({"shared": {"created_by": "parent"}})
    env = _child_env(runtime_root)
    count = 150
    go = runtime_root / "go"
    children = [
        subprocess.Popen([sys.executable, "-c", _SECTION_CHILD, name, str(count), str(go)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("alpha", "beta")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{name}").exists() for name in ("alpha", "beta")):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "writers did not start"
        time.sleep(0.005)
    go.touch()
    outputs = [child.communicate(timeout=90) for child in children]
    for child, (stdout, stderr) in zip(children, outputs):
        assert child.returncode == 0, stderr
        assert "done" in stdout
    stored = SettingsManager().stored()
    expected_items = {f"k{i}": i for i in range(count)}
    assert stored["alpha"] == {"items": expected_items, "last": count - 1}
    assert stored["beta"] == {"items": expected_items, "last": count - 1}
    assert stored["shared"] == {"created_by": "parent"}


def test_unsavable_data_is_a_typed_error_and_nothing_is_written(tmp_path):
    from comfyvn.core.errors import InvalidInput
    from comfyvn.core.store import atomic_write_json

    deep: dict = {}
    cursor = deep
    for _ in range(5000):
        cursor["a"] = {}
        cursor = cursor["a"]
    target = tmp_path / "deep.json"
    with pytest.raises(InvalidInput, match="nested too deeply"):
        atomic_write_json(target, deep)
    assert list(tmp_path.iterdir()) == []


def test_batch_writes_sync_each_folder_once_at_the_end(tmp_path, monkeypatch):
    from comfyvn.core import store as core_store

    synced: list[str] = []
    real = core_store._fsync_dir

    def spy(directory, *, now=False):
        if now or getattr(core_store._batch, "dirs", None) is None:
            synced.append(Path(directory).name)
        return real(directory, now=now)

    monkeypatch.setattr(core_store, "_fsync_dir", spy)
    with core_store.batch_writes():
        for i in range(5):
            core_store.atomic_write_json(tmp_path / "a" / f"{i}.json", {"i": i})
            core_store.atomic_write_json(tmp_path / "b" / f"{i}.json", {"i": i})
        with core_store.batch_writes():  # nested: joins the outer batch
            core_store.atomic_write_json(tmp_path / "a" / "x.json", {})
        assert synced == []
    assert sorted(synced) == ["a", "b"]
    core_store.atomic_write_json(tmp_path / "c.json", {})
    assert synced[-1] == tmp_path.name  # outside a batch: synced at once
    assert core_store.read_json(tmp_path / "a" / "3.json") == {"i": 3}


def test_atomic_writes_get_normal_permissions_and_keep_existing_ones(tmp_path):
    import os
    import stat

    from comfyvn.core.store import _umask, atomic_write_bytes

    new = tmp_path / "new.json"
    atomic_write_bytes(new, b"{}")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~_umask()  # not the temp file's private 0600
    os.chmod(new, 0o640)
    atomic_write_bytes(new, b"[]")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640
    secret = tmp_path / "token"
    atomic_write_bytes(secret, b"x", mode=0o600)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600

