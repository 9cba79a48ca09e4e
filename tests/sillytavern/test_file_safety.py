"""What the library import reads: regular files only, never past the body limit, never outside
`root`, never through a symbolic link leaving the imported folder (API, importer, CLI, job)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import InvalidInput
from comfyvn.player import registry
from comfyvn.projects import store
from comfyvn.projects.paths import project_dir
from comfyvn.sillytavern import importer
from comfyvn.sillytavern.folders import discover
from tests.conftest import assert_envelope
from tests.sillytavern.builders import fixture
from tests.sillytavern.test_importer import (
    SADNESS,
    SOLO,
    invoke,
    make_library,
    rows_by_item,
    settings_fragment,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev/zero are POSIX")
WORLD = {"entries": {"0": {"uid": 0, "key": ["vault"], "content": "The secret vault.", "comment": "Vault"}}}


@pytest.fixture
def library(tmp_path) -> Path:
    make_library(tmp_path / "SillyTavern")
    return tmp_path / "SillyTavern"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder next to the library holding files a link could point at."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "Secret.json").write_text(json.dumps(WORLD))
    (folder / "anger.png").write_bytes(SADNESS)
    (folder / "settings.json").write_text(json.dumps(settings_fragment()))
    (folder / "chat.jsonl").write_bytes(fixture(f"sillytavern/synthetic/{SOLO}"))
    return folder


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def user_folder(library: Path) -> Path:
    return library / "data" / "default-user"


# -- the path itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_path_that_is_not_a_regular_file_or_folder_is_refused(tmp_path, special):
    path = Path("/dev/zero") if special == "/dev/zero" else fifo(tmp_path / "pipe.jsonl")
    with pytest.raises(InvalidInput) as error:
        importer.plan_path(path)
    assert error.value.code == "invalid_path" and str(path) in error.value.message
    assert ("character device" if special == "/dev/zero" else "FIFO") in error.value.message


def test_root_confines_the_path(library, outside):
    for path in ("sillytavern/../../../../etc/passwd", "../elsewhere/Secret.json", str(outside / "Secret.json")):
        with pytest.raises(InvalidInput) as error:
            importer.plan_path(path, root=library)
        assert error.value.code == "path_outside_root" and str(library) in error.value.message, path
    (library / "escape").symlink_to(outside)
    with pytest.raises(InvalidInput) as linked:
        importer.plan_path("escape/Secret.json", root=library)
    assert linked.value.code == "path_outside_root"
    assert importer.plan_path("data/../data/default-user", root=library).user == "default-user"
    inside = importer.plan_path("data/default-user/worlds/Eldoria.json", root=library)
    assert [item.name for item in inside.items] == ["Eldoria.json"]


def test_the_api_refuses_devices_fifos_and_paths_outside_root(client, library, tmp_path):
    zero = assert_envelope(client.post("/st/import", json={"path": "/dev/zero"}), 422, "invalid_path")
    assert "character device" in zero["message"]
    pipe = fifo(tmp_path / "pipe.json")
    fifo_error = assert_envelope(client.post("/st/import", json={"path": str(pipe)}), 422, "invalid_path")
    assert "FIFO" in fifo_error["message"]
    body = {"root": str(library), "path": "sillytavern/../../../../etc/shadow"}
    escape = assert_envelope(client.post("/st/import", json=body), 422, "path_outside_root")
    assert escape["details"]["root"] == str(library)


# -- inside a library folder ----------------------------------------------------------------------

def test_links_leaving_the_library_folder_are_skipped(library, outside):
    folder = user_folder(library)
    (folder / "worlds" / "evil.json").symlink_to(outside / "Secret.json")
    (folder / "worlds" / "passwd.json").symlink_to("/etc/passwd")
    (folder / "worlds" / "again.json").symlink_to("Eldoria.json")  # stays inside: followed
    (folder / "characters" / "default_Seraphina" / "anger.png").symlink_to(outside / "anger.png")
    (folder / "User Avatars" / "1727478000000-Wanderer.png").symlink_to(outside / "anger.png")
    report = importer.import_items(discover(library).items)
    rows = rows_by_item(report)
    for name in ("worlds/evil.json", "worlds/passwd.json"):
        assert rows[name]["status"] == "skipped" and "outside" in rows[name]["result"], rows[name]
    assert rows["worlds/again.json"]["status"] == "ok"
    assert "secret" not in store.collection("world").ids()
    sera = store.collection("character").get("default", "seraphina")["data"]
    assert set(sera["metadata"]["expression_assets"]) == {"joy"}
    sera_row = rows["characters/default_Seraphina.png"]
    assert any("anger.png" in w["message"] and "outside" in w["message"] for w in sera_row["warnings"])
    wanderer = registry.get_persona("1727478000000-wanderer")
    assert "avatar_path" not in wanderer["metadata"]
    assert any("outside" in w["message"] for w in rows["settings.json"]["warnings"])
    assert not (project_dir("default") / "characters" / "seraphina" / "expressions" / "anger.png").exists()


def test_a_linked_settings_file_or_folder_outside_is_not_read(library, outside):
    folder = user_folder(library)
    (folder / "settings.json").unlink()
    (folder / "settings.json").symlink_to(outside / "settings.json")
    (folder / "groups" / "linked.json").symlink_to(outside / "Secret.json")
    (folder / "chats" / "linked").symlink_to(outside, target_is_directory=True)
    plan = discover(library)
    names = [item.name for item in plan.items]
    assert "settings.json" not in names and "backups/personas_20240928.json" in names
    assert any("settings.json" in note and "outside" in note for note in plan.notes)
    rows = rows_by_item(importer.import_items(plan.items))
    assert rows["groups/linked.json"]["status"] == "skipped"
    linked = rows["chats/linked/chat.jsonl"]
    assert linked["status"] == "skipped" and "outside" in linked["result"]


def test_fifos_and_sockets_in_a_library_are_skipped_with_the_reason(library):
    folder = user_folder(library)
    fifo(folder / "worlds" / "pipe.json")
    fifo(folder / "characters" / "default_Seraphina" / "fear.png")
    short = Path("/tmp") / f"st-sock-{os.getpid()}"  # a socket path must be short: bound here, then moved
    short.mkdir(exist_ok=True)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(short / "s"))
        os.replace(short / "s", folder / "worlds" / "socket.json")
        rows = rows_by_item(importer.import_items(discover(library).items))
    finally:
        server.close()
        short.rmdir()
    assert rows["worlds/pipe.json"]["status"] == "skipped" and "FIFO" in rows["worlds/pipe.json"]["result"]
    assert rows["worlds/socket.json"]["status"] == "skipped" and "socket" in rows["worlds/socket.json"]["result"]
    assert rows["worlds/Eldoria.json"]["status"] == "ok"
    assert any("fear.png" in w["message"] and "FIFO" in w["message"]
               for w in rows["characters/default_Seraphina.png"]["warnings"])


def test_an_item_naming_a_fifo_is_skipped_not_read(tmp_path):
    pipe = fifo(tmp_path / "chat.jsonl")
    row = importer.import_items([importer.Item("chat.jsonl", pipe)])["items"][0]
    assert row["status"] == "skipped" and "FIFO" in row["result"]


# -- the size limit -------------------------------------------------------------------------------

def test_files_over_the_body_limit_are_skipped_with_their_size(library, monkeypatch):
    eldoria = user_folder(library) / "worlds" / "Eldoria.json"
    size = eldoria.stat().st_size
    SettingsManager().set("server.max_body_bytes", size - 1)
    reads = []
    real_get = SettingsManager.get

    def counting(self, key=None, default=None):
        if key == "server.max_body_bytes":
            reads.append(key)
        return real_get(self, key, default)

    monkeypatch.setattr(SettingsManager, "get", counting)
    items = [importer.Item("Eldoria.json", eldoria), importer.Item("upload.json", data=eldoria.read_bytes()),
             importer.Item("small.json", data=json.dumps(WORLD).encode())]
    rows = importer.import_items(items)["items"]
    for row in rows[:2]:
        assert row["status"] == "skipped", row
        assert f"{size} bytes" in row["result"] and f"{size - 1}" in row["result"]
        assert "server.max_body_bytes" in row["result"]
    assert rows[2]["status"] == "ok"
    assert len(reads) == 1  # once per import, not once per file
    assert "eldoria" not in store.collection("world").ids()


# -- the command line and the job -----------------------------------------------------------------

def test_cli_refuses_a_fifo_and_skips_links_leaving_the_folder(library, outside, tmp_path):
    result = invoke(str(fifo(tmp_path / "pipe.jsonl")))
    assert result.exit_code == 2 and "FIFO" in result.output
    (user_folder(library) / "worlds" / "evil.json").symlink_to(outside / "Secret.json")
    folder = invoke(str(library), "--kinds", "worlds")
    assert "evil.json" in folder.output and "outside" in folder.output
    assert "secret" not in store.collection("world").ids()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "linked.json").symlink_to(outside / "Secret.json")
    (tmp_path / "logs" / "Eldoria.json").write_bytes(fixture("sillytavern/default-content/Eldoria.json"))
    searched = invoke(str(tmp_path / "logs"))
    assert searched.exit_code == 0, searched.output
    assert "linked.json" in searched.output and "secret" not in store.collection("world").ids()


def test_the_job_reads_named_files_with_the_same_checks(tmp_path):
    from comfyvn.core.job_types import JobContext
    from comfyvn.sillytavern import jobs

    pipe = fifo(tmp_path / "pipe.json")
    world = tmp_path / "Secret.json"
    world.write_text(json.dumps(WORLD))
    params = {"files": [{"path": str(pipe), "name": "pipe.json"}, {"path": str(world), "name": "Secret.json"}]}
    result = jobs.run_import(JobContext("j1", params, on_progress=lambda f, m: None, on_log=print))
    rows = rows_by_item(result)
    assert rows["pipe.json"]["status"] == "skipped" and "FIFO" in rows["pipe.json"]["result"]
    assert rows["Secret.json"]["status"] == "ok"
