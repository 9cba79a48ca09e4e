"""Real servers for tests: uvicorn in a thread (shares this process) or in a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from comfyvn.config.baseurl_authority import find_open_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    base_url: str
    port: int

    @property
    def ws_base(self) -> str:
        return self.base_url.replace("http://", "ws://")


class ThreadServer(LiveServer):
    """uvicorn serving ``create_app()`` on a loopback port, in a background thread."""

    def __init__(self, app) -> None:
        port = find_open_port("127.0.0.1", 0)
        super().__init__(f"http://127.0.0.1:{port}", port)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                ws_ping_interval=None, timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class ProcessServer(LiveServer):
    """``python -m comfyvn serve`` (or any command) in a subprocess, with its own environment."""

    def __init__(self, env: dict[str, str], *, args: list[str] | None = None, command: list[str] | None = None,
                 port: int | None = None) -> None:
        port = port or find_open_port("127.0.0.1", 0)
        super().__init__(f"http://127.0.0.1:{port}", port)
        self.env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))}
        self.command = command or [sys.executable, "-m", "comfyvn", "serve", "--host", "127.0.0.1",
                                   "--port", str(port), *(args or [])]
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self, timeout: float = 30) -> ProcessServer:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.output = self.process.stdout.read() if self.process.stdout else ""
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.output += self.process.stdout.read()
        return self.process.returncode
