"""GET /api/logs and /api/logs/{name}: the listing, forward reads by byte offset (whole lines,
limit, rotation), tails, bad offsets (422) and names that try to leave the log folder (404)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.conftest import assert_envelope


@pytest.fixture
def log_dir(runtime_root) -> Path:
    folder = runtime_root / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder




def write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def read(client, name: str, **params) -> dict:
    response = client.get(f"/api/logs/{name}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"name", "offset", "next_offset", "size", "lines", "truncated", "rotated"} <= set(body)
    return body


def test_listing_has_every_log_file_newest_first(client, log_dir):
    write(log_dir / "system.log.2", "old\n", 1_000_000)
    write(log_dir / "system.log.1", "older\n", 1_000_100)
    write(log_dir / "system.log", "now\n", 1_000_500)
    write(log_dir / "viewer.log", "v\n", 1_000_300)
    write(log_dir / "export" / "abc.log", "e\n", 1_000_200)
    write(log_dir / "run-20260101-1-42" / "run.log", "r\n", 1_000_400)
    write(log_dir / "notes.txt", "not a log\n")
    write(log_dir / "system.log.bak", "not a log either\n")
    answer = client.get("/api/logs").json()
    assert answer["folder"] == str(log_dir.resolve())
    names = [entry["name"] for entry in answer["logs"]]
    assert names == ["system.log", "run-20260101-1-42/run.log", "viewer.log", "export/abc.log", "system.log.1",
                     "system.log.2"]
    first = answer["logs"][0]
    assert first["size"] == 4 and first["mtime"] == 1_000_500


def test_forward_reads_whole_lines_and_follow_appends(client, log_dir):
    path = write(log_dir / "system.log", "one\ntwo\r\nthr")
    first = read(client, "system.log")
    assert first["lines"] == ["one", "two"] and first["offset"] == 0
    assert first["next_offset"] == len(b"one\ntwo\r\n") and first["size"] == path.stat().st_size
    assert not first["truncated"] and not first["rotated"]
    again = read(client, "system.log", offset=first["next_offset"])  # the half-written line waits
    assert again["lines"] == [] and again["next_offset"] == first["next_offset"]
    with open(path, "ab") as handle:
        handle.write("ee\nfour \u00e9\n".encode())
    more = read(client, "system.log", offset=first["next_offset"])
    assert more["lines"] == ["three", "four \u00e9"] and more["next_offset"] == path.stat().st_size


def test_limit_cuts_at_the_last_full_line_and_long_lines_come_in_pieces(client, log_dir):
    lines = [f"line {n:03d}" for n in range(50)]  # 8 bytes each + newline
    write(log_dir / "big.log", "".join(line + "\n" for line in lines))
    page = read(client, "big.log", limit=25)
    assert page["lines"] == lines[:2] and page["next_offset"] == 18 and page["truncated"]
    seen, offset = [], 0
    while True:
        page = read(client, "big.log", offset=offset, limit=64)
        seen += page["lines"]
        if not page["truncated"]:
            break
        offset = page["next_offset"]
    assert seen == lines and page["next_offset"] == 450
    write(log_dir / "long.log", "x" * 30 + "\nend\n")
    piece = read(client, "long.log", limit=16)
    assert piece["lines"] == ["x" * 16] and piece["next_offset"] == 16
    rest = read(client, "long.log", offset=16, limit=16)
    assert rest["lines"] == ["x" * 14] and rest["next_offset"] == 31


def test_an_offset_past_the_end_means_rotation_and_restarts_at_zero(client, log_dir):
    write(log_dir / "system.log", "fresh after rotation\n")
    answer = read(client, "system.log", offset=5_000_000)
    assert answer["rotated"] and answer["offset"] == 0 and answer["lines"] == ["fresh after rotation"]


def test_a_rotation_that_grew_past_the_old_offset_is_noticed_by_file_id(client, log_dir):
    log = write(log_dir / "system.log", "old line\n")
    first = read(client, "system.log")
    log.rename(log_dir / "system.log.1")  # what RotatingFileHandler does, then it writes a new file
    write(log_dir / "system.log", "new file, and already longer than the old one\n")
    same_offset = read(client, "system.log", offset=first["next_offset"], file_id=first["file_id"])
    assert same_offset["rotated"] and same_offset["offset"] == 0
    assert same_offset["lines"] == ["new file, and already longer than the old one"]
    assert same_offset["file_id"] != first["file_id"]
    again = read(client, "system.log", offset=same_offset["next_offset"], file_id=same_offset["file_id"])
    assert not again["rotated"] and again["lines"] == []


def test_tail_gives_the_last_lines(client, log_dir):
    lines = [f"entry {n}" for n in range(300)]
    path = write(log_dir / "system.log", "".join(line + "\n" for line in lines) + "partial")
    three = read(client, "system.log", tail=3)
    assert three["lines"] == lines[-3:] and three["truncated"]
    complete = path.stat().st_size - len("partial")
    assert three["next_offset"] == complete
    assert three["offset"] == complete - sum(len(line) + 1 for line in lines[-3:])
    default = read(client, "system.log", offset=-1)
    assert default["lines"] == lines[-200:]
    window = read(client, "system.log", tail=1000, limit=40)  # only whole lines of the last 40 bytes
    assert window["lines"] == lines[-3:] and window["truncated"]
    everything = read(client, "system.log", tail=1000)
    assert everything["lines"] == lines and not everything["truncated"] and everything["offset"] == 0
    after = read(client, "system.log", offset=three["next_offset"])
    assert after["lines"] == []


@pytest.mark.parametrize("params", [{"offset": -2}, {"offset": "abc"}, {"limit": 0}, {"limit": 2 * 1024 * 1024},
                                    {"tail": 0}])
def test_bad_offsets_and_limits_are_422(client, log_dir, params):
    write(log_dir / "system.log", "x\n")
    response = client.get("/api/logs/system.log", params=params)
    error = assert_envelope(response, 422)
    assert error["code"] in ("validation_error", "invalid_input")


@pytest.mark.parametrize("name", [
    "nope.log",
    "..%2Fsecret.log",
    "%2E%2E/%2E%2E/secret.log",
    "export/..%2F..%2F..%2Fsecret.log",
    "%2Fetc%2Fpasswd",
    "%2F%2Ftmp%2Fsecret.log",
    "notes.txt",
    "export",
    "escape.log",
    "escape_dir/inner.log",
    "%2E/system.log",
])
def test_names_outside_the_log_folder_or_not_logs_are_404(client, log_dir, name):
    write(log_dir / "system.log", "x\n")
    write(log_dir / "notes.txt", "x\n")
    write(log_dir / "export" / "a.log", "x\n")
    secret = write(log_dir.parent.parent / "secret.log", "top secret\n")
    (log_dir / "escape.log").symlink_to(secret)
    (log_dir / "escape_dir").symlink_to(secret.parent, target_is_directory=True)
    write(secret.parent / "inner.log", "also secret\n")
    response = client.get(f"/api/logs/{name}")
    assert "log file" in assert_envelope(response, 404, "not_found")["message"]  # our check, not routing
    assert "secret" not in response.text.replace("secret.log", "")
    assert "escape" not in " ".join(e["name"] for e in client.get("/api/logs").json()["logs"])


def test_a_symlink_inside_the_folder_is_fine(client, log_dir):
    target = write(log_dir / "export" / "real.log", "inside\n")
    (log_dir / "latest.log").symlink_to(target)
    assert read(client, "latest.log")["lines"] == ["inside"]


def test_the_records_of_this_process_reach_gui_log_and_the_endpoint(client, log_dir, restore_root_logger):
    from comfyvn.core.logs import add_log_file

    handler = add_log_file("gui.log", level=logging.WARNING)
    assert add_log_file("gui.log") is handler  # idempotent
    logging.getLogger("comfyvn.gui.test").warning("studio says hi", extra={"pane": "viewer"})
    handler.flush()
    names = [entry["name"] for entry in client.get("/api/logs").json()["logs"]]
    assert "gui.log" in names
    line = json.loads(read(client, "gui.log", tail=1)["lines"][0])
    assert line["event"] == "studio says hi" and line["logger"] == "comfyvn.gui.test"
    assert line["context"] == {"pane": "viewer"} and line["level"] == "WARNING"
