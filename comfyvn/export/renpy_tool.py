"""Find Ren'Py and drive it headless: lint, compile (label locations) and testcase runs.

Where Ren'Py is looked for, first match wins:

1. ``COMFYVN_RENPY_SDK``: a folder holding ``renpy.py`` (an SDK, or Debian's /usr/share/games/renpy);
   run with the SDK's bundled Python, else its ``renpy.sh``/``renpy.exe``, else /usr/bin/python3.
2. ``COMFYVN_RENPY_EXECUTABLE``: a Ren'Py launcher (``renpy.sh``, Debian's /usr/games/renpy, ...).
3. Debian's ``/usr/share/games/renpy/renpy.py``, run with ``/usr/bin/python3``.
4. ``renpy`` on PATH.

Ren'Py 8.0.x on Python 3.11+ is started through :mod:`comfyvn.export.renpy_fix`, which clamps the
invalid AST positions that otherwise crash it. Every run works on a temporary copy of the project
with a sandboxed HOME, because Ren'Py writes caches, logs and saves next to the game and in ~/.renpy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from comfyvn.core.errors import InvalidInput, Unavailable

FIX_SCRIPT = Path(__file__).with_name("renpy_fix.py")
DEBIAN_SCRIPT = Path("/usr/share/games/renpy/renpy.py")
DEBIAN_PYTHON = Path("/usr/bin/python3")
SDK_PYTHONS = ("lib/py3-linux-x86_64/python", "lib/py3-linux-aarch64/python", "lib/py3-mac-universal/python",
               "lib/py3-windows-x86_64/python.exe", "lib/linux-x86_64/python")
SDK_LAUNCHERS = ("renpy.sh", "renpy.exe")
# Files Ren'Py reads as scripts or rewrites; everything else in a project copy may be a symlink.
_COPIED_SUFFIXES = {".rpy", ".rpym", ".rpyc", ".rpymc", ".py", ".pyc", ".json", ".txt"}
_LEFTOVERS = {"cache", "saves", "log.txt", "errors.txt", "traceback.txt", "lint.txt"}
_VERSION_RE = re.compile(r"Ren'Py (\d+)\.(\d+)\.(\d+)")
_found: dict[tuple[str, ...], RenPy | None] = {}
_FILE_LINE_RE = re.compile(r'^File "(?P<file>[^"]+)", line (?P<line>\d+):?\s*(?P<msg>.*)$')


class RenPyMissing(Unavailable):
    code = "renpy_missing"


class RenPyTimeout(Unavailable):
    code = "renpy_timeout"


@dataclass(frozen=True)
class RenPy:
    """One way to start Ren'Py. ``python`` + ``script`` when renpy.py is run as a script (the fix
    can then be applied), else ``executable``."""

    version: tuple[int, ...]
    source: str
    python: str | None = None
    script: str | None = None
    executable: str | None = None
    python_version: tuple[int, int] | None = None

    @property
    def needs_fix(self) -> bool:
        """Ren'Py 8.0.x on Python 3.11+ crashes on its own screen code without renpy_fix."""
        return (self.python is not None and self.version[:2] == (8, 0)
                and self.python_version is not None and self.python_version >= (3, 11))

    def argv(self, *args: str) -> list[str]:
        """The command line running Ren'Py with ``args`` (project dir, command, options)."""
        if self.python and self.script:
            head = [self.python, str(FIX_SCRIPT), self.script] if self.needs_fix else [self.python, self.script]
        else:
            head = [str(self.executable)]
        return [*head, *args]


@dataclass
class LintReport:
    ok: bool
    errors: list[str]
    notes: list[str]
    statistics: list[str]
    output: str
    seconds: float
    exit_code: int


@dataclass
class TestRunReport:
    ok: bool
    exit_code: int
    output: str
    seconds: float
    errors: list[str] = field(default_factory=list)


def find_renpy(*, sdk: str | None = None, executable: str | None = None) -> RenPy | None:
    """The Ren'Py to use, or None when none is installed: ``sdk`` / ``executable`` when given, else
    COMFYVN_RENPY_SDK / COMFYVN_RENPY_EXECUTABLE, else Debian's, else ``renpy`` on PATH. One that was
    asked for explicitly but is unusable raises RenPyMissing. Remembered per setting."""
    if sdk is None and executable is None:
        sdk = os.environ.get("COMFYVN_RENPY_SDK", "")
        executable = os.environ.get("COMFYVN_RENPY_EXECUTABLE", "")
    key = ((sdk or "").strip(), (executable or "").strip(), os.environ.get("PATH", ""))
    if key not in _found:
        _found[key] = _find(*key[:2])
    return _found[key]


def _find(sdk: str, exe: str) -> RenPy | None:
    if sdk:
        return _from_sdk(Path(sdk).expanduser())
    if exe:
        found = shutil.which(exe) or (exe if Path(exe).is_file() else None)
        if not found:
            raise RenPyMissing(f"the Ren'Py launcher {exe} is not an executable file; point "
                               "COMFYVN_RENPY_EXECUTABLE (or renpy_executable) at a Ren'Py launcher or unset it")
        return _from_executable(found, "COMFYVN_RENPY_EXECUTABLE")
    if DEBIAN_SCRIPT.is_file() and DEBIAN_PYTHON.is_file():
        return _probe(source="debian", python=str(DEBIAN_PYTHON), script=str(DEBIAN_SCRIPT))
    on_path = shutil.which("renpy")
    return _from_executable(on_path, "PATH") if on_path else None


def require_renpy() -> RenPy:
    """find_renpy(), raising RenPyMissing with what to do when there is none."""
    renpy = find_renpy()
    if renpy is None:
        raise RenPyMissing("Ren'Py was not found: install Debian's renpy package (apt-get install renpy) "
                           "or set COMFYVN_RENPY_SDK to a Ren'Py SDK folder")
    return renpy


def lint(project_dir: Path, *, timeout: float = 600, renpy: RenPy | None = None) -> LintReport:
    """Run ``lint --error-code`` on a copy of ``project_dir`` (the folder holding ``game/``)."""
    renpy = renpy or require_renpy()
    with _sandbox(project_dir) as (copy, work):
        report_file = work / "lint.txt"
        code, output, seconds = _run(renpy, [str(copy), "lint", str(report_file), "--error-code"], work, timeout)
        text = report_file.read_text("utf-8-sig", errors="replace") if report_file.is_file() else ""
        errors, notes, stats = parse_lint(text) if text else ([], [], [])
        if code != 0 and not errors:  # stopped before or after the report: script error or crash
            errors = _crash_errors(copy, output)
        return LintReport(ok=code == 0 and not errors and bool(text), errors=errors, notes=notes,
                          statistics=stats, output=(text + output) if text else output,
                          seconds=seconds, exit_code=code)


def compile_labels(project_dir: Path, *, timeout: float = 600, private: bool = False,
                   renpy: RenPy | None = None) -> dict[str, tuple[str, int]]:
    """Every label of the game with its file (relative to the project) and line, from
    ``compile --json-dump``. Labels starting with ``_`` only when ``private``."""
    renpy = renpy or require_renpy()
    with _sandbox(project_dir) as (copy, work):
        dump = work / "dump.json"
        args = [str(copy), "compile", "--json-dump", str(dump)] + (["--json-dump-private"] if private else [])
        code, output, _ = _run(renpy, args, work, timeout)
        if code != 0 or not dump.is_file():
            errors = _crash_errors(copy, output)
            raise InvalidInput(f"Ren'Py could not compile {project_dir}: " + "; ".join(errors[:5]),
                               details={"errors": errors, "exit_code": code})
        data = json.loads(dump.read_text("utf-8"))
    labels = data.get("location", {}).get("label", {})
    return {name: (str(where[0]), int(where[1])) for name, where in sorted(labels.items())}


def run_test(project_dir: Path, testcase: str, *, timeout: float = 300,
             renpy: RenPy | None = None) -> TestRunReport:
    """Play ``testcase`` headless (``test <testcase>``). The testcase must end with
    ``$ renpy.quit(status=0)``, or Ren'Py waits at its quit prompt until the timeout."""
    renpy = renpy or require_renpy()
    with _sandbox(project_dir) as (copy, work):
        code, output, seconds = _run(renpy, [str(copy), "test", testcase], work, timeout)
        errors = _crash_errors(copy, output) if code != 0 else []
    return TestRunReport(ok=code == 0, exit_code=code, output=output, seconds=seconds, errors=errors)


def parse_lint(text: str) -> tuple[list[str], list[str], list[str]]:
    """Split a lint report into (errors, notes, statistics). Each problem is printed after a blank
    line, as ``file:line message``; lines right after it add explanations (notes)."""
    lines = text.lstrip("\ufeff").splitlines()
    body, stats = lines[1:], []
    if "Statistics:" in body:
        at = body.index("Statistics:")
        body, stats = body[:at], [line for line in body[at + 1:] if line.strip()]
    errors: list[str] = []
    notes: list[str] = []
    fresh = True
    for line in body:
        if not line.strip():
            fresh = True
        elif fresh:
            errors.append(line.strip())
            fresh = False
        else:
            notes.append(line.strip())
    return errors, notes, stats


def _crash_errors(copy: Path, output: str) -> list[str]:
    """Errors of a run that stopped early: script errors (errors.txt) or an exception (traceback.txt)."""
    errors_txt = copy / "errors.txt"
    if errors_txt.is_file():
        text = errors_txt.read_text("utf-8-sig", errors="replace")
        body = text.split("\n\n\n", 1)[-1].split("Ren'Py Version:", 1)[0]
        found = []
        for block in body.strip().split("\n\n"):
            first = block.strip().splitlines()[0] if block.strip() else ""
            match = _FILE_LINE_RE.match(first)
            if match:
                found.append(f"{match['file']}:{match['line']} {match['msg']}".strip())
            elif first:
                found.append(first)
        if found:
            return found
    traceback_txt = copy / "traceback.txt"
    source = traceback_txt.read_text("utf-8-sig", errors="replace") if traceback_txt.is_file() else output
    last = [line.strip() for line in source.splitlines() if re.match(r"^(\w+\.)*\w*(Error|Exception)\b", line)]
    if last:
        return [last[-1]]
    tail = [line.strip() for line in output.splitlines() if line.strip()]
    return [tail[-1] if tail else "Ren'Py stopped without a report"]


@contextmanager
def _sandbox(project_dir: Path) -> Iterator[tuple[Path, Path]]:
    """A temporary copy of the project (leftover caches and logs skipped) and a work folder whose
    ``home/`` serves as HOME; yields (copy, work)."""
    project_dir = Path(project_dir)
    if not (project_dir / "game").is_dir():
        raise InvalidInput(f"{project_dir} is not a Ren'Py project: it has no game/ folder")
    with tempfile.TemporaryDirectory(prefix="comfyvn-renpy-") as tmp:
        work = Path(tmp)
        copy = work / "project"
        shutil.copytree(project_dir, copy, copy_function=_link_or_copy,
                        ignore=lambda folder, names: [n for n in names if n in _LEFTOVERS])
        (work / "home").mkdir()
        yield copy, work


def _link_or_copy(src: str, dst: str) -> str:
    """Copy script files (Ren'Py rewrites them or their .rpyc); symlink assets to save time and disk."""
    if Path(src).suffix.lower() not in _COPIED_SUFFIXES:
        try:
            os.symlink(os.path.abspath(src), dst)
            return dst
        except OSError:
            pass
    return shutil.copy2(src, dst)


def _run(renpy: RenPy, args: list[str], work: Path, timeout: float) -> tuple[int, str, float]:
    """Run Ren'Py headless in ``work``; returns (exit code, stdout + stderr, seconds)."""
    env = dict(os.environ, HOME=str(work / "home"), SDL_VIDEODRIVER="offscreen", SDL_AUDIODRIVER="dummy",
               RENPY_PATH_TO_SAVES=str(work / "home" / "saves"))
    argv = renpy.argv(*args)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=os.name == "posix")
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise RenPyTimeout(f"Ren'Py did not finish `{' '.join(args[1:])}` within {timeout:g} s; a testcase "
                           "must end with `$ renpy.quit(status=0)`, large projects need a longer timeout",
                           details={"argv": argv, "timeout": timeout}) from None
    return proc.returncode, out.decode("utf-8", errors="replace"), time.monotonic() - started


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.communicate()


def _from_sdk(sdk: Path) -> RenPy:
    script = sdk / "renpy.py"
    if not script.is_file():
        raise RenPyMissing(f"COMFYVN_RENPY_SDK={sdk} has no renpy.py; point it at a Ren'Py SDK folder")
    for rel in SDK_PYTHONS:
        if (sdk / rel).is_file():
            return _probe(source="COMFYVN_RENPY_SDK", python=str(sdk / rel), script=str(script))
    for rel in SDK_LAUNCHERS:
        if (sdk / rel).is_file():
            return _probe(source="COMFYVN_RENPY_SDK", executable=str(sdk / rel))
    if DEBIAN_PYTHON.is_file():
        return _probe(source="COMFYVN_RENPY_SDK", python=str(DEBIAN_PYTHON), script=str(script))
    raise RenPyMissing(f"COMFYVN_RENPY_SDK={sdk} has no Python to run renpy.py with")


def _from_executable(exe: str, source: str) -> RenPy:
    """A launcher that is a Python script is run as ``<its python> <script>`` so the fix can apply."""
    try:
        with open(exe, "rb") as handle:
            first = handle.readline(200).decode("utf-8", errors="replace")
    except OSError as exc:
        raise RenPyMissing(f"cannot read the Ren'Py launcher {exe} ({exc})") from None
    if first.startswith("#!") and "python" in first:
        parts = first[2:].split()
        python = shutil.which(parts[-1]) if Path(parts[0]).name == "env" else parts[0]
        if python and Path(python).is_file():
            return _probe(source=source, python=python, script=str(Path(exe).resolve()))
    return _probe(source=source, executable=exe)


def _probe(*, source: str, python: str | None = None, script: str | None = None,
           executable: str | None = None) -> RenPy:
    """Ask Ren'Py its version (``--version``) and the interpreter its version."""
    bare = RenPy(version=(0,), source=source, python=python, script=script, executable=executable)
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", SDL_AUDIODRIVER="dummy")
    with tempfile.TemporaryDirectory(prefix="comfyvn-renpy-") as tmp:
        env["HOME"] = tmp
        try:
            out = subprocess.run(bare.argv("--version"), cwd=tmp, env=env, capture_output=True, text=True,
                                 timeout=60, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RenPyMissing(f"Ren'Py from {source} ({' '.join(bare.argv())}) did not start: {exc}") from None
        match = _VERSION_RE.search(out.stdout + out.stderr)
        if not match:
            raise RenPyMissing(f"Ren'Py from {source} ({' '.join(bare.argv())}) did not report its version: "
                               f"{(out.stdout + out.stderr).strip()[-300:]}")
        py_version = None
        if python:
            probe = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=60, cwd=tmp, env=env, check=False)
            major, _, minor = probe.stdout.strip().partition(".")
            py_version = (int(major), int(minor)) if probe.returncode == 0 else None
    version = tuple(int(part) for part in match.groups())
    return RenPy(version=version, source=source, python=python, script=script, executable=executable,
                 python_version=py_version)


__all__ = ["LintReport", "RenPy", "RenPyMissing", "RenPyTimeout", "TestRunReport", "compile_labels",
           "find_renpy", "lint", "parse_lint", "require_renpy", "run_test"]
