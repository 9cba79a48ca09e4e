#!/usr/bin/env python3
"""Set up and start ComfyVN.

On first run this creates ``.venv`` beside this file, installs ComfyVN and its requirements into
it (with the Studio's GUI extra when a display is present), then starts the product: the Studio
with a local server, or the server alone when there is no display. Later runs reinstall only when
``pyproject.toml`` changed. Only the standard library is used until the environment is ready.

    python3 run_comfyvn.py                 # Studio + local server (server only without a display)
    python3 run_comfyvn.py --server-only   # just the API server
    python3 run_comfyvn.py --help
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".comfyvn-install"
MIN_PYTHON = (3, 11)


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        description="Set up (first run) and start ComfyVN: the Studio with a local server, or the server only.",
        epilog="Environment: COMFYVN_SERVER_BASE / COMFYVN_BASE_URL, COMFYVN_SERVER_AUTOSTART=0, "
        "COMFYVN_SERVER_HOST, COMFYVN_SERVER_PORT, COMFYVN_SERVER_APP, COMFYVN_SERVER_LOG_LEVEL.",
    )
    parser.add_argument("--server-only", action="store_true", help="run only the API server, in the foreground")
    parser.add_argument("--server-host", default=env.get("COMFYVN_SERVER_HOST"),
                        help="address the server binds (default 127.0.0.1; others require the API token)")
    parser.add_argument("--server-port", type=int, default=_int_env("COMFYVN_SERVER_PORT"),
                        help="server port (default 8001, or the next free one)")
    parser.add_argument("--server-url", default=None,
                        help="connect the Studio to this server instead of starting a local one")
    parser.add_argument("--no-server-autostart", action="store_true",
                        help="do not start a local server (same as COMFYVN_SERVER_AUTOSTART=0)")
    parser.add_argument("--server-reload", action="store_true", help="restart the server when code changes")
    parser.add_argument("--uvicorn-app", default=env.get("COMFYVN_SERVER_APP"),
                        help="ASGI app to serve, as module:attribute (default comfyvn.server.app:create_app)")
    parser.add_argument("--uvicorn-factory", action="store_true", help="--uvicorn-app names a factory function")
    parser.add_argument("--setup-only", action="store_true", help="prepare .venv and exit")
    parser.add_argument("--dev", action="store_true", help="also install the developer tools (test suite)")
    return parser.parse_args(argv)


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        sys.exit(f"{name} must be a port number, got {value!r}")


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def wanted_extras(args: argparse.Namespace) -> list[str]:
    extras = ["gui"] if has_display() and not args.server_only else []
    if args.dev:
        extras.append("dev")
    return extras


def project_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def read_stamp() -> dict:
    """What the last install put into .venv: the pyproject digest and the extras."""
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def install_needed(extras: list[str]) -> bool:
    stamp = read_stamp()
    return stamp.get("pyproject") != project_digest() or not set(extras) <= set(stamp.get("extras", []))


def running_in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def importable_here() -> bool:
    """True when this interpreter already runs ComfyVN from this checkout (a developer's env)."""
    try:
        import comfyvn  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return Path(comfyvn.__file__).resolve().is_relative_to(ROOT)


def create_venv() -> None:
    print(f"Creating a virtual environment in {VENV} ...", flush=True)
    result = subprocess.run([sys.executable, "-m", "venv", str(VENV)])
    if result.returncode == 0 and venv_python().exists():
        return
    shutil.rmtree(VENV, ignore_errors=True)
    if sys.platform.startswith("linux") and shutil.which("apt-get"):
        package = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            print(f"Installing {package} (needed to create virtual environments) ...", flush=True)
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            return
        sys.exit(f"Python cannot create virtual environments here. Install it with:\n  sudo apt-get install {package}\n"
                 "then run this command again.")
    sys.exit("Python cannot create a virtual environment (python -m venv failed); see the message above.")


def install(extras: list[str]) -> None:
    """Install ComfyVN into .venv unless the last install already covers ``extras``."""
    if not install_needed(extras):
        return
    python = str(venv_python())
    extras = sorted(set(extras) | set(read_stamp().get("extras", [])))
    print("Installing ComfyVN and its requirements into .venv (the first run takes a minute) ...", flush=True)
    subprocess.run([python, "-m", "pip", "install", "--upgrade", "pip"], check=True)
    result = subprocess.run([python, "-m", "pip", "install", "-e", _target(extras)], cwd=ROOT)
    if result.returncode != 0 and "gui" in extras:
        extras = [e for e in extras if e != "gui"]
        print("Installing the Studio's GUI extra failed; continuing without it (server only).", flush=True)
        result = subprocess.run([python, "-m", "pip", "install", "-e", _target(extras)], cwd=ROOT)
    if result.returncode != 0:
        sys.exit("Installing ComfyVN failed; see pip's message above. Check the network connection to PyPI.")
    STAMP.write_text(json.dumps({"pyproject": project_digest(), "extras": extras}) + "\n")


def _target(extras: list[str]) -> str:
    return f".[{','.join(extras)}]" if extras else "."


def launch(args: argparse.Namespace) -> int:
    sys.argv = ["comfyvn", "launch"]
    for flag in ("server_only", "no_server_autostart", "server_reload", "uvicorn_factory"):
        if getattr(args, flag):
            sys.argv.append("--" + flag.replace("_", "-"))
    for option in ("server_host", "server_port", "server_url", "uvicorn_app"):
        value = getattr(args, option)
        if value is not None:
            sys.argv += ["--" + option.replace("_", "-"), str(value)]
    if os.environ.get("COMFYVN_LEGACY_LINKS", "1") != "0":
        sys.argv += ["--legacy-links", str(ROOT)]
    from comfyvn.cli import main

    main()
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"ComfyVN needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {sys.version.split()[0]}.")
    args = parse_args(argv)
    if running_in_venv():
        install(wanted_extras(args))
    elif not importable_here():
        if not venv_python().exists():
            create_venv()
        install(wanted_extras(args))
        if args.setup_only:
            print("Set up. Start ComfyVN with: python3 run_comfyvn.py")
            return 0
        command = [str(venv_python()), str(Path(__file__).resolve()), *argv]
        if os.name == "nt":
            return subprocess.call(command)
        os.execv(command[0], command)
    if args.setup_only:
        print("Set up. Start ComfyVN with: python3 run_comfyvn.py")
        return 0
    return launch(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
