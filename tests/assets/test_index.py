"""The asset search index: derived from the sidecars, rebuildable, self-repairing."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.assets import paths, previews
from comfyvn.assets.index import AssetIndex, search_text
from comfyvn.assets.registry import registry, reset
from comfyvn.config.settings import SettingsManager
from comfyvn.core.store import atomic_write_json
from comfyvn.projects.store import create_project
from tests.assets.conftest import png, wav


def populate(reg) -> list[str]:
    """A small history of registrations, updates and deletes."""
    uids = [reg.add_bytes(png(n), tags=[f"t{n % 3}", "all"], meta={"zeta": "last", "character": f"C{n}"})[0]["uid"]
            for n in range(6)]
    uids.append(reg.add_bytes(wav(1), type="voice", provenance={"tool": "tts", "seed": 3})[0]["uid"])
    reg.update(uids[0], add_tags=["hero"], license="CC0", meta={"character": None, "pose": "up"})
    reg.update_many(uids[1:3], remove_tags=["all"])
    reg.remove(uids[3])
    reg.remove(uids[4], keep_file=True)
    previews.wait_idle()
    return uids


def rebuilt_snapshot(reg) -> list:
    reg.rebuild_index()
    return reg.index.snapshot()


def test_rebuild_equals_live_index(reg):
    populate(reg)
    live = reg.index.snapshot()
    assert len([row for row in live if len(row) == 8]) == 5
    assert rebuilt_snapshot(reg) == live


def test_rebuild_equals_live_index_with_previews_pending(reg):
    SettingsManager().save({"assets": {"previews": "off"}})
    populate(reg)
    live = reg.index.snapshot()
    assert rebuilt_snapshot(reg) == live


def test_search_text_does_not_depend_on_key_order():
    one = {"path": "a.png", "type": "image", "tags": ["x"], "meta": {"b": "Bee", "a": "Ay"}, "provenance": {}}
    two = {**one, "meta": {"a": "Ay", "b": "Bee"}}
    assert search_text(one) == search_text(two)


def test_deleted_index_is_rebuilt(reg):
    populate(reg)
    live = reg.index.snapshot()
    reg.index.close()
    for suffix in ("", "-wal", "-shm"):
        (reg.index.path.parent / (reg.index.path.name + suffix)).unlink(missing_ok=True)
    again = registry()
    assert again is not reg  # the index went away: the registry is opened afresh
    assert again.open().index.snapshot() == live
    assert again.query(tags=["hero"])["total"] == 1


def test_corrupt_index_is_recreated_from_sidecars(reg):
    populate(reg)
    live = reg.index.snapshot()
    reset()
    for suffix in ("-wal", "-shm"):
        (reg.index.path.parent / (reg.index.path.name + suffix)).unlink(missing_ok=True)
    reg.index.path.write_bytes(b"this is not a database" * 100)
    again = registry().open()
    assert again.index.snapshot() == live
    assert again.query(q="c5")["total"] == 1


def test_old_schema_is_recreated_from_sidecars(reg):
    populate(reg)
    live = reg.index.snapshot()
    reg.index.db.execute("PRAGMA user_version=1")
    reset()
    assert registry().open().index.snapshot() == live


def test_pending_mark_reconciled_on_open(reg):
    uids = populate(reg)
    sidecar = reg.get(uids[0])
    reg.index.mark([uids[0], uids[3]])  # uids[3] is gone; uids[0] changes behind the index's back
    changed = {**sidecar, "tags": ["edited"], "version": sidecar["version"] + 1}
    atomic_write_json(paths.sidecar_of(reg.root / sidecar["path"]), changed)
    assert reg.index.pending() == sorted([uids[0], uids[3]])
    reset()
    again = registry().open()
    assert again.index.pending() == []
    assert again.get(uids[0])["tags"] == ["edited"]
    assert again.query(tags=["edited"])["total"] == 1 and again.query(tags=["hero"])["total"] == 0
    live = again.index.snapshot()
    assert rebuilt_snapshot(again) == live


def test_pending_mark_for_a_new_asset(reg):
    """A crash after the sidecar of a new asset was written but before its row."""
    populate(reg)
    other = registry()
    sidecar, _ = other.add_bytes(png(99))
    other.index.drop([sidecar["uid"]])
    other.index.mark([sidecar["uid"]])
    reset()
    assert registry().open().get(sidecar["uid"])["path"] == sidecar["path"]


def test_unreadable_sidecar_is_skipped(reg):
    uids = populate(reg)
    sidecar = reg.get(uids[1])
    paths.sidecar_of(reg.root / sidecar["path"]).write_text("{not json")
    (reg.root / "misc").mkdir(exist_ok=True)
    (reg.root / "misc" / "partial.png.asset.json").write_text(json.dumps({"uid": "x"}))
    assert reg.rebuild_index() == 4
    assert reg.query()["total"] == 4


# -- query semantics directly on the index ---------------------------------------------------------

def sidecar(n: int, **extra) -> dict:
    return {"uid": f"{n:024x}", "type": "image", "path": f"p/{n:03d}.png", "hash": f"{n:064x}", "bytes": n,
            "created_at": "2026-01-01T00:00:00Z", "tags": [], "meta": {}, **extra}


def test_query_filters(tmp_path):
    index = AssetIndex(tmp_path / "i.sqlite")
    index.rebuild([sidecar(1, tags=["a", "b"], type="music"), sidecar(2, tags=["a"]), sidecar(3, tags=["b"]),
                   sidecar(4, meta={"note": "100% done_ok"}), sidecar(5, meta={"note": "1000 doneXok"})])
    assert [s["bytes"] for s in index.query(tags=["a"])[0]] == [1, 2]
    assert [s["bytes"] for s in index.query(tags=["a", "b"])[0]] == [1]
    assert [s["bytes"] for s in index.query(tags=["b", "a"], type="music")[0]] == [1]
    assert index.query(tags=["a", "b"], type="image") == ([], 0)
    assert [s["bytes"] for s in index.query(q="100%")[0]] == [4]
    assert [s["bytes"] for s in index.query(q="done_ok")[0]] == [4]
    assert [s["bytes"] for s in index.query(q="DONE")[0]] == [4, 5]
    assert index.query(hash=f"{3:064X}")[0][0]["bytes"] == 3
    assert index.query(limit=2, offset=4) == ([sidecar(5, meta={"note": "1000 doneXok"})], 5)
    assert index.query(limit=2, offset=9) == ([], 5)
    index.close()


# -- property: any sequence of operations leaves an index equal to its rebuild ------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 7), st.lists(st.sampled_from(["a", "B", "c d"]), max_size=3)),
    st.tuples(st.just("update"), st.integers(0, 7), st.dictionaries(st.sampled_from(["x", "y", "mood"]),
                                                                    st.one_of(st.none(), st.text(max_size=5)))),
    st.tuples(st.just("tags"), st.integers(0, 7), st.lists(st.sampled_from(["a", "e", "F"]), max_size=2)),
    st.tuples(st.just("license"), st.integers(0, 7), st.one_of(st.none(), st.sampled_from(["CC0", "MIT"]))),
    st.tuples(st.just("remove"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("register"), st.integers(0, 7), st.just(None)),
), max_size=14)
_projects = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=OPS)
def test_index_equals_rebuild_after_any_operations(runtime_root, ops):
    SettingsManager().save({"assets": {"previews": "off"}})
    project = f"prop{next(_projects)}"
    create_project({"id": project})
    reg = registry(project).open()
    for op, n, arg in ops:
        uid = next((s["uid"] for s in reg.query(q=f"/{n}.", limit=1)["items"]), None)
        if op == "add":
            reg.add_bytes(png(n) if n % 2 else wav(n), name=f"{n}.x", tags=arg)
        elif op == "register":
            target = reg.root / "reg" / f"{n}.bin"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(png(n + 100))
                reg.register(f"reg/{n}.bin")
        elif uid is None:
            continue
        elif op == "update":
            reg.update(uid, meta=arg)
        elif op == "tags":
            reg.update(uid, add_tags=arg, remove_tags=["a"])
        elif op == "license":
            reg.update(uid, license=arg)
        elif op == "remove":
            reg.remove(uid, keep_file=arg)
    live = reg.index.snapshot()
    assert rebuilt_snapshot(reg) == live
    reg.index.close()
