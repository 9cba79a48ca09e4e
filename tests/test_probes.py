"""Health tools: scripts/smoke_test.py, scripts/smoke_checks.py, tools/doctor_phase4.py and
`comfyvn doctor`, against a real server and against nothing."""

from __future__ import annotations

import json
import subprocess
import sys

from comfyvn.config.baseurl_authority import find_open_port
from comfyvn.diagnostics import probes
from tests.support.servers import ROOT


def run(script: str, *args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True, text=True,
                          timeout=120, env=env)


def dead_url() -> str:
    return f"http://127.0.0.1:{find_open_port('127.0.0.1', 0)}"


def test_smoke_test_passes_against_a_live_server(live_server, server_env):
    result = run("scripts/smoke_test.py", "--base-url", live_server.base_url, env=server_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   GET /health" in result.stdout and "ok   GET /system/metrics" in result.stdout


def test_smoke_test_fails_with_connection_details(server_env):
    url = dead_url()
    result = run("scripts/smoke_test.py", "--base-url", url, env=server_env)
    assert result.returncode == 1
    assert f"{url}/health" in result.stdout
    assert "Connection refused" in result.stdout or "ConnectError" in result.stdout
    assert "comfyvn serve" in result.stdout


def test_smoke_checks_cover_rest_and_websockets(live_server, server_env):
    result = run("scripts/smoke_checks.py", "--base-url", live_server.base_url, env=server_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("GET /status", "GET /jobs/poll", "GET /api/scenario/schema", "GET /api/save/list",
                 "WS /jobs/ws", "WS /api/modder/hooks/ws"):
        assert f"ok   {name}" in result.stdout
    assert "all 11 checks passed" in result.stdout


def test_smoke_checks_report_each_failure(server_env):
    url = dead_url()
    result = run("scripts/smoke_checks.py", "--base-url", url, env=server_env)
    assert result.returncode == 1
    assert "11 of 11 checks failed" in result.stderr
    assert f"{url.replace('http', 'ws')}/jobs/ws" in result.stderr


def test_doctor_prints_json_and_exit_code(live_server, server_env):
    result = run("tools/doctor_phase4.py", "--base", live_server.base_url, env=server_env)
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["failed"]
    assert report["ok"] is True and report["base_url"] == live_server.base_url
    names = {p["name"] for p in report["probes"]}
    assert {"GET /health", "WS /jobs/ws", "folder data", "disk space", "python"} <= names

    broken = run("tools/doctor_phase4.py", "--base", dead_url(), env=server_env)
    assert broken.returncode == 1
    assert "GET /health" in json.loads(broken.stdout)["failed"]


def test_doctor_flags_a_corrupt_config_file(live_server, runtime_root):
    (runtime_root / "config").mkdir(parents=True, exist_ok=True)
    (runtime_root / "config" / "settings.json").write_text("{broken")
    report = probes.run_doctor(live_server.base_url, timeout=5)
    failed = {p["name"]: p for p in report["probes"] if not p["ok"]}
    assert "config settings.json" in failed
    assert "fix or delete" in failed["config settings.json"]["detail"]


def test_folder_probe_reports_unwritable_places(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    probe = probes._folder_probe("data", blocker / "below")
    assert not probe.ok and "is a file" in probe.detail
    assert probes._folder_probe("data", tmp_path / "new" / "dir").ok


def test_comfyvn_doctor_command(live_server, server_env):
    result = subprocess.run([sys.executable, "-m", "comfyvn", "doctor", "--base", live_server.base_url],
                            capture_output=True, text=True, timeout=120, env=server_env, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
