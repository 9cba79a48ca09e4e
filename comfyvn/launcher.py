"""What ``run_comfyvn.py`` runs once the environment is ready: probe the machine, decide what to
start, start it, and say why at every step."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from comfyvn.config import baseurl_authority, runtime_paths
from comfyvn.config.settings import SettingsManager

Echo = Callable[[str], Any]
MIN_FREE_MEMORY = 512 * 1024 * 1024
MIN_FREE_DISK = 200 * 1024 * 1024
GUI_MODULE = "comfyvn.gui.app"


@dataclass
class LaunchOptions:
    server_only: bool = False
    server_host: str | None = None
    server_port: int | None = None
    server_url: str | None = None
    no_server_autostart: bool = False
    server_reload: bool = False
    uvicorn_app: str | None = None
    uvicorn_factory: bool = False
    legacy_links: Path | None = None  # make logs/, cache/, data/... links in this folder


@dataclass
class ProbeReport:
    start_local: bool
    host: str
    port: int
    reasons: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    existing_server: str | None = None


def _gpu() -> dict[str, Any]:
    tool = shutil.which("nvidia-smi")
    if not tool:
        return {"found": False, "detail": "nvidia-smi not found"}
    try:
        result = subprocess.run([tool, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"found": False, "detail": f"nvidia-smi failed: {exc}"}
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not names:
        return {"found": False, "detail": (result.stderr or "no GPU listed").strip()[:200]}
    return {"found": True, "devices": names}


def _writable(path: Any) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _comfyvn_at(url: str) -> bool:
    try:
        response = httpx.get(url + "/status", timeout=1.5)
    except httpx.HTTPError:
        return False
    try:
        return response.status_code in (200, 401) and (
            response.status_code == 401 or "version" in response.json()
        )
    except ValueError:
        return False


def hardware_probe(host: str, port: int) -> ProbeReport:
    """Decide whether this machine should start the local server, with the reasons."""
    report = ProbeReport(start_local=True, host=host, port=port)
    memory = psutil.virtual_memory()
    data = runtime_paths.data_dir()
    report.facts = {
        "cpu_count": psutil.cpu_count(),
        "memory_total": memory.total,
        "memory_available": memory.available,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpu": _gpu(),
        "data_dir": str(data),
    }
    problem = _writable(data)
    if problem:
        report.start_local = False
        report.reasons.append(
            f"cannot write to the data folder {data} ({problem}); set COMFYVN_DATA_DIR to a writable "
            "folder, or use --server-url to work with a server elsewhere"
        )
        return report
    free_disk = psutil.disk_usage(str(data)).free
    report.facts["disk_free"] = free_disk
    if free_disk < MIN_FREE_DISK:
        report.start_local = False
        report.reasons.append(
            f"only {free_disk // 2**20} MB free on the disk of {data}; the server needs at least "
            f"{MIN_FREE_DISK // 2**20} MB for projects and logs. Free some space or use --server-url"
        )
        return report
    if memory.available < MIN_FREE_MEMORY:
        report.start_local = False
        report.reasons.append(
            f"only {memory.available // 2**20} MB of memory available; the server needs about "
            f"{MIN_FREE_MEMORY // 2**20} MB. Close some programs or use --server-url"
        )
        return report
    if not baseurl_authority.port_is_free(host, port):
        url = baseurl_authority.make_url(host, port)
        if _comfyvn_at(url):
            report.start_local = False
            report.existing_server = url
            report.reasons.append(f"a ComfyVN server already answers at {url}; using it")
            return report
        new_port = baseurl_authority.find_open_port(host, port + 1)
        report.reasons.append(f"port {port} is used by another program; using port {new_port} instead")
        report.port = new_port
    gpu = report.facts["gpu"]
    if gpu["found"]:
        report.reasons.append(f"GPU found ({', '.join(gpu['devices'])}): a local ComfyUI can use it")
    else:
        report.reasons.append("no NVIDIA GPU found: renders use the built-in renderer or a remote ComfyUI server")
    report.reasons.append(
        f"{report.facts['cpu_count']} CPUs, {memory.available // 2**20} MB memory free: starting the local server"
    )
    return report


def gui_unavailable_reason() -> str | None:
    """Why the Studio cannot open here, or None when it can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            return "no display found (DISPLAY/WAYLAND_DISPLAY unset)"
    if importlib.util.find_spec("PySide6") is None:
        return "the GUI extra is not installed (pip install 'comfyvn[gui]')"
    if importlib.util.find_spec(GUI_MODULE) is None:
        return "this installation has no Studio module (comfyvn.gui)"
    return None


def _server_command(host: str, port: int, opts: LaunchOptions) -> list[str]:
    command = [sys.executable, "-m", "comfyvn", "serve", "--host", host, "--port", str(port)]
    if opts.uvicorn_app:
        command += ["--app", opts.uvicorn_app]
    if opts.uvicorn_factory:
        command.append("--factory")
    if opts.server_reload:
        command.append("--reload")
    return command


def wait_for_health(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def make_legacy_links(base: Path, echo: Echo) -> None:
    """Links old guides expect in the checkout; only news and problems are printed."""
    for result in runtime_paths.legacy_links(base):
        if result.status in ("created", "relinked", "conflict", "unsupported"):
            echo(f"legacy link {result.status}: {result.message}")


def run(opts: LaunchOptions, echo: Echo = print) -> int:
    settings = SettingsManager()
    if opts.legacy_links is not None:
        make_legacy_links(opts.legacy_links, echo)
    host = opts.server_host or str(settings.get("server.host"))
    port = opts.server_port if opts.server_port is not None else int(settings.get("server.port"))
    autostart = not opts.no_server_autostart and os.environ.get("COMFYVN_SERVER_AUTOSTART", "1") != "0"
    if opts.server_url:
        autostart = False

    gui_reason = None if opts.server_only else gui_unavailable_reason()
    server_only = opts.server_only or gui_reason is not None
    if gui_reason and not opts.server_only:
        echo(f"Studio not started: {gui_reason}. Running the server only.")
        if not autostart:
            echo("Nothing to do: the server autostart is off and the Studio cannot open here.")
            return 1

    if not autostart:
        url = (opts.server_url or baseurl_authority.default_base_url()).rstrip("/")
        os.environ["COMFYVN_BASE_URL"] = url
        return _run_gui(url, echo)

    report = hardware_probe(host, port)
    for reason in report.reasons:
        echo(f"probe: {reason}")
    if not report.start_local:
        if report.existing_server and not server_only:
            os.environ["COMFYVN_BASE_URL"] = report.existing_server
            return _run_gui(report.existing_server, echo)
        echo("The local server was not started (see the probe above).")
        return 1

    app = opts.uvicorn_app or os.environ.get("COMFYVN_SERVER_APP") or "comfyvn.server.app:create_app"
    factory = opts.uvicorn_factory or app == "comfyvn.server.app:create_app"
    if server_only:
        from comfyvn.server.serve import PortInUse, serve

        try:
            serve(host=host, port=report.port, app=app, factory=factory, reload=opts.server_reload, echo=echo)
        except PortInUse as exc:
            echo(f"error: {exc}")
            return 1
        return 0

    url = baseurl_authority.make_url(host, report.port)
    process = subprocess.Popen(_server_command(host, report.port, opts))
    try:
        if not wait_for_health(url, process=process):
            echo(f"error: the server did not come up at {url}; see {runtime_paths.log_dir() / 'system.log'}")
            return 1
        os.environ["COMFYVN_BASE_URL"] = url
        return _run_gui(url, echo)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _run_gui(url: str, echo: Echo) -> int:
    reason = gui_unavailable_reason()
    if reason:
        echo(f"Cannot open the Studio: {reason}. The server is at {url}.")
        return 1
    module = importlib.import_module(GUI_MODULE)
    echo(f"Opening the Studio (server {url})")
    return int(module.main(base_url=url) or 0)
