"""run_comfyvn.py and comfyvn.launcher: bootstrap decisions, the hardware probe, and a real
launch in --server-only mode."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from comfyvn import launcher
from comfyvn.config.baseurl_authority import find_open_port
from tests.support.servers import ROOT, ProcessServer

RUN = ROOT / "run_comfyvn.py"


def load_bootstrap():
    spec = importlib.util.spec_from_file_location("run_comfyvn_under_test", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- bootstrap (run_comfyvn.py) -------------------------------------------------------------------
def test_bootstrap_help_lists_every_launch_flag():
    result = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--server-only", "--server-host", "--server-port", "--server-url", "--no-server-autostart",
                 "--server-reload", "--uvicorn-app", "--uvicorn-factory", "COMFYVN_SERVER_AUTOSTART"):
        assert flag in result.stdout


def test_extras_follow_display_and_dev(monkeypatch):
    boot = load_bootstrap()
    monkeypatch.setattr(boot.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert boot.wanted_extras(boot.parse_args([])) == []
    assert boot.wanted_extras(boot.parse_args(["--dev"])) == ["dev"]
    monkeypatch.setenv("DISPLAY", ":0")
    assert boot.wanted_extras(boot.parse_args([])) == ["gui"]
    assert boot.wanted_extras(boot.parse_args(["--server-only"])) == []


def test_install_stamp_covers_subsets_and_notices_pyproject_changes(tmp_path, monkeypatch):
    boot = load_bootstrap()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname='x'\n")
    monkeypatch.setattr(boot, "ROOT", project)
    monkeypatch.setattr(boot, "STAMP", tmp_path / "stamp")
    assert boot.install_needed([])
    boot.STAMP.write_text(json.dumps({"pyproject": boot.project_digest(), "extras": ["dev", "gui"]}))
    assert not boot.install_needed([])
    assert not boot.install_needed(["dev"])
    assert boot.install_needed(["dev", "other"])
    (project / "pyproject.toml").write_text("[project]\nname='x'\ndependencies=['new']\n")
    assert boot.install_needed([])
    boot.STAMP.write_text("not json")
    assert boot.install_needed([])


def test_bad_port_in_environment_is_explained(server_env):
    env = {**server_env, "COMFYVN_SERVER_PORT": "eighty"}
    result = subprocess.run([sys.executable, str(RUN), "--server-only"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "COMFYVN_SERVER_PORT must be a port number" in result.stderr


# -- hardware probe -------------------------------------------------------------------------------
def test_probe_starts_locally_on_a_free_port(runtime_root):
    port = find_open_port("127.0.0.1", 0)
    report = launcher.hardware_probe("127.0.0.1", port)
    assert report.start_local and report.port == port
    assert report.facts["cpu_count"] >= 1 and report.facts["memory_total"] > 0
    assert any("starting the local server" in r for r in report.reasons)
    assert "found" in report.facts["gpu"]


def test_probe_moves_off_a_port_another_program_holds(runtime_root):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        report = launcher.hardware_probe("127.0.0.1", busy)
    assert report.start_local
    assert report.port != busy
    assert any(f"port {busy} is used by another program" in r for r in report.reasons)


def test_probe_reuses_a_running_comfyvn_server(live_server):
    report = launcher.hardware_probe("127.0.0.1", live_server.port)
    assert not report.start_local
    assert report.existing_server == live_server.base_url
    assert "already answers" in report.reasons[0]


def test_probe_refuses_an_unwritable_data_folder(runtime_root, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("COMFYVN_DATA_DIR", str(blocker / "data"))
    report = launcher.hardware_probe("127.0.0.1", find_open_port("127.0.0.1", 0))
    assert not report.start_local
    assert "cannot write to the data folder" in report.reasons[0]
    assert "COMFYVN_DATA_DIR" in report.reasons[0]


def test_gui_reason_without_display(monkeypatch):
    monkeypatch.setattr(launcher.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert "no display" in launcher.gui_unavailable_reason()


def test_remote_url_without_a_studio_has_nothing_to_do(runtime_root, monkeypatch):
    monkeypatch.setattr(launcher, "gui_unavailable_reason", lambda: "no display found")
    said = []
    code = launcher.run(launcher.LaunchOptions(server_url="http://127.0.0.1:9"), echo=said.append)
    assert code == 1
    assert any("Nothing to do" in line for line in said)


# -- real launches --------------------------------------------------------------------------------
def _launch(env, *args, port):
    return ProcessServer(env, command=[sys.executable, str(RUN), *args], port=port)


@pytest.mark.slow
def test_launcher_server_only_serves_records_its_address_and_stops_cleanly(server_env, runtime_root):
    port = find_open_port("127.0.0.1", 0)
    server = _launch(server_env, "--server-only", "--server-port", str(port), port=port).start()
    try:
        status = httpx.get(server.base_url + "/status", timeout=5).json()
        assert status["status"] == "ok"
        assert httpx.get(server.base_url + "/system/metrics", timeout=5).status_code == 200
        state = json.loads((runtime_root / "config" / "runtime_state.json").read_text())
        assert state["server"]["base_url"] == server.base_url
        assert state["server"]["pid"] == status["pid"]
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.output
    assert "starting the local server" in server.output
    assert not (runtime_root / "config" / "runtime_state.json").exists()


@pytest.mark.slow
def test_launcher_without_display_says_so_and_runs_the_server(server_env, runtime_root):
    env = {k: v for k, v in server_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    port = find_open_port("127.0.0.1", 0)
    env["COMFYVN_SERVER_PORT"] = str(port)
    server = _launch(env, port=port).start()
    code = server.stop(signal.SIGINT)
    assert code == 0, server.output
    assert "Studio not started: no display found" in server.output


@pytest.mark.slow
def test_launcher_wildcard_bind_requires_token_and_records_a_connectable_url(server_env, runtime_root):
    port = find_open_port("0.0.0.0", 0)
    server = _launch(server_env, "--server-only", "--server-host", "0.0.0.0", "--server-port", str(port),
                     port=port)
    server.start()
    try:
        state = json.loads((runtime_root / "config" / "runtime_state.json").read_text())
        assert state["server"]["base_url"] == f"http://127.0.0.1:{port}"
        token = (runtime_root / "config" / "api_token").read_text().strip()
        assert httpx.get(server.base_url + "/status", timeout=5).status_code == 401
        assert httpx.get(server.base_url + "/status", headers={"Authorization": f"Bearer {token}"},
                         timeout=5).status_code == 200
    finally:
        server.stop()
    assert "API token created" in server.output


@pytest.mark.slow
def test_launcher_uses_the_next_port_when_the_asked_one_is_taken(server_env, runtime_root):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        process = subprocess.Popen([sys.executable, str(RUN), "--server-only", "--server-port", str(busy)],
                                   env={**server_env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            state_file = runtime_root / "config" / "runtime_state.json"
            for _ in range(300):
                if state_file.exists():
                    break
                if process.poll() is not None:
                    break
                import time

                time.sleep(0.1)
            url = json.loads(state_file.read_text())["server"]["base_url"]
            assert not url.endswith(f":{busy}")
            for _ in range(100):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert httpx.get(url + "/health", timeout=5).json() == {"status": "ok"}
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0]
    assert f"port {busy} is used by another program" in output
    assert process.returncode == 0


def test_launcher_makes_legacy_links_and_reports_conflicts(runtime_root, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "cache").mkdir(parents=True)
    (checkout / "cache" / "mine.txt").write_text("keep")
    said: list[str] = []
    launcher.make_legacy_links(checkout, said.append)
    assert (checkout / "logs").resolve() == (runtime_root / "logs").resolve()
    assert (checkout / "data" / "workspaces").resolve() == (runtime_root / "data" / "workspaces").resolve()
    assert any("legacy link created" in line and "logs" in line for line in said)
    assert any("legacy link conflict" in line and "cache" in line for line in said)
    assert (checkout / "cache" / "mine.txt").read_text() == "keep"
    said.clear()
    launcher.make_legacy_links(checkout, said.append)
    assert all("created" not in line for line in said)  # second start: only the conflict again


def test_dangling_legacy_link_is_repointed(runtime_root, tmp_path):
    from comfyvn.config import runtime_paths

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "logs").symlink_to(tmp_path / "gone", target_is_directory=True)
    results = {r.link.name: r for r in runtime_paths.legacy_links(checkout)}
    assert results["logs"].status == "relinked"
    assert (checkout / "logs").resolve() == (runtime_root / "logs").resolve()


@pytest.mark.slow
def test_launch_command_makes_links_in_the_given_folder(server_env, runtime_root, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    port = find_open_port("127.0.0.1", 0)
    server = ProcessServer(server_env, port=port, command=[
        sys.executable, "-m", "comfyvn", "launch", "--server-only", "--server-port", str(port),
        "--legacy-links", str(checkout)]).start()
    assert server.stop() == 0
    assert (checkout / "logs").is_symlink() and (checkout / "data" / "settings").is_symlink()
    assert "legacy link created" in server.output
