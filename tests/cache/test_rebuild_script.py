"""scripts/rebuild_dedup_cache.py, run as users run it: a subprocess with its exit code, the JSON
summary on stdout and messages on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from comfyvn.cache.cache_manager import CacheManager

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rebuild_dedup_cache.py"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # the subprocess inherits this test's COMFYVN_RUNTIME_ROOT (tests/conftest.py)
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "assets"
    for name, content in {"bg/room.png": "room", "bg/room-again.png": "room", "music/theme.ogg": "theme",
                          "bg/room.png.asset.json": "{}"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    return folder


def test_help_explains_every_option():
    result = run("--help")
    assert result.returncode == 0
    for text in ("--assets", "--index", "--max-entries", "--max-bytes", "--no-preserve-pins", "Exit codes"):
        assert text in result.stdout


def test_rebuild_prints_a_json_summary_and_writes_the_index_where_asked(tmp_path):
    index = tmp_path / "somewhere" / "dedup.json"
    result = run("--assets", assets(tmp_path), "--index", index)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("files", "entries", "blobs", "bytes", "saved_bytes", "added")} == {
        "files": 3, "entries": 3, "blobs": 2, "bytes": 9, "saved_bytes": 4, "added": 3}
    assert summary["index"] == str(index.resolve())
    assert "hashed 3/3 files" in result.stderr  # plain progress when stderr is not a terminal
    stored = json.loads(index.read_text())
    assert len(stored["entries"]) == 3
    cache = CacheManager(index.parent, index=index)
    assert [Path(e.path).name for e in cache.entries()] == ["room-again.png", "room.png", "theme.ogg"]
    assert all(cache.lookup(e.digest) for e in cache.entries())  # blobs beside the index


def test_default_index_is_under_the_runtime_cache_dir(tmp_path, runtime_root):
    result = run("--assets", assets(tmp_path))
    assert result.returncode == 0, result.stderr
    index = runtime_root / "cache" / "dedup" / "index.json"
    assert json.loads(result.stdout)["index"] == str(index.resolve())
    assert len(json.loads(index.read_text())["entries"]) == 3


def test_pins_are_kept_unless_told_otherwise(tmp_path):
    folder, index = assets(tmp_path), tmp_path / "cache" / "index.json"
    cache = CacheManager(index.parent)
    cache.rebuild(folder)
    cache.pin(folder / "music" / "theme.ogg")
    kept = run("--assets", folder, "--index", index)
    assert kept.returncode == 0, kept.stderr
    assert (json.loads(kept.stdout)["pinned"], json.loads(kept.stdout)["pins_dropped"]) == (1, 0)
    assert cache.get(folder / "music" / "theme.ogg").pinned
    dropped = run("--assets", folder, "--index", index, "--no-preserve-pins")
    assert dropped.returncode == 0, dropped.stderr
    assert (json.loads(dropped.stdout)["pinned"], json.loads(dropped.stdout)["pins_dropped"]) == (0, 1)
    assert not cache.get(folder / "music" / "theme.ogg").pinned


def test_limits_evict_down_to_size(tmp_path):
    result = run("--assets", assets(tmp_path), "--index", tmp_path / "c" / "index.json", "--max-entries", "1")
    assert result.returncode == 0, result.stderr
    assert (json.loads(result.stdout)["entries"], json.loads(result.stdout)["evicted"]) == (1, 2)
    result = run("--assets", assets(tmp_path), "--index", tmp_path / "c" / "index.json", "--max-bytes", "4")
    assert json.loads(result.stdout)["bytes"] <= 4


def test_a_missing_assets_folder_is_a_clear_error(tmp_path):
    index = tmp_path / "cache" / "index.json"
    result = run("--assets", tmp_path / "nope", "--index", index)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error:" in result.stderr and "nope" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not index.exists()


def test_an_assets_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file.png").write_text("x")
    result = run("--assets", tmp_path / "file.png", "--index", tmp_path / "cache" / "index.json")
    assert result.returncode == 2 and "not a folder" in result.stderr and "Traceback" not in result.stderr


def test_bad_options_are_refused(tmp_path):
    assert run().returncode == 2  # --assets is required
    for option in ("--max-entries", "--max-bytes"):
        result = run("--assets", assets(tmp_path), option, "-1")
        assert result.returncode == 2 and "whole number" in result.stderr
        result = run("--assets", assets(tmp_path), option, "lots")
        assert result.returncode == 2 and "whole number" in result.stderr
