"""The Ren'Py toolchain: finding Ren'Py, the 8.0.3 launcher fix, lint/compile/test runs and their reports."""

from __future__ import annotations

import ast
import os
import stat
import sys
from pathlib import Path

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.export import renpy_fix, renpy_tool
from comfyvn.export.renpy_tool import RenPy, RenPyMissing, RenPyTimeout

REPORT = """\ufeffRen'Py 8.0.3.22090809u lint report, generated at: Tue Nov 24 17:13:40 2026

game/script.rpy:2 'eileen happy' is not an image.

game/script.rpy:4 The jump is to nonexistent label 'nowhere'.
Hint line that explains the problem above.


Statistics:

The game contains 1 dialogue blocks, containing 2 words and 9 characters, for
an average of 2.0 words and 9 characters per block.

Lint is not a substitute for thorough testing.
"""


def make_project(root: Path, script: str) -> Path:
    (root / "game").mkdir(parents=True)
    (root / "game" / "script.rpy").write_text(script, encoding="utf-8")
    return root


def test_parse_lint_splits_errors_notes_and_statistics():
    errors, notes, stats = renpy_tool.parse_lint(REPORT)
    assert errors == ["game/script.rpy:2 'eileen happy' is not an image.",
                      "game/script.rpy:4 The jump is to nonexistent label 'nowhere'."]
    assert notes == ["Hint line that explains the problem above."]
    assert stats[0].startswith("The game contains 1 dialogue blocks")


def test_parse_lint_of_a_clean_report_has_no_errors():
    clean = REPORT.split("\n\ngame/script.rpy:2")[0] + "\n\n\nStatistics:\n\nThe game contains 0 menus.\n"
    assert renpy_tool.parse_lint(clean)[0] == []


def test_fix_clamps_reversed_line_ranges_so_python_compiles_them():
    name = ast.Name(id="x", ctx=ast.Load(), lineno=403, col_offset=4, end_lineno=1, end_col_offset=0)
    tree = ast.Expression(body=name)
    with pytest.raises(ValueError, match="line range"):  # what Ren'Py 8.0.3 hits on Python 3.11
        compile(tree, "<test>", "eval")
    code = renpy_fix.fixed_compile(tree, "<test>", "eval")
    assert eval(code, {"x": 7}) == 7
    assert (name.lineno, name.end_lineno, name.end_col_offset) == (403, 403, 4)


def test_fix_leaves_valid_positions_and_source_text_alone():
    tree = ast.parse("a + b", mode="eval")
    before = [(n.lineno, n.end_lineno, n.col_offset, n.end_col_offset) for n in ast.walk(tree) if hasattr(n, "lineno")]
    renpy_fix.clamp_positions(tree)
    after = [(n.lineno, n.end_lineno, n.col_offset, n.end_col_offset) for n in ast.walk(tree) if hasattr(n, "lineno")]
    assert before == after
    assert eval(renpy_fix.fixed_compile("1 + 2", "<test>", "eval")) == 3


def test_fix_only_applies_to_renpy_8_0_run_as_a_script_on_python_3_11():
    script = RenPy(version=(8, 0, 3), source="t", python="/usr/bin/python3", script="/r/renpy.py",
                   python_version=(3, 11))
    assert script.needs_fix
    assert script.argv("proj", "lint") == ["/usr/bin/python3", str(renpy_tool.FIX_SCRIPT), "/r/renpy.py",
                                          "proj", "lint"]
    older_python = RenPy(version=(8, 0, 3), source="t", python="p", script="s", python_version=(3, 9))
    assert not older_python.needs_fix and older_python.argv("x") == ["p", "s", "x"]
    newer = RenPy(version=(8, 2, 0), source="t", python="p", script="s", python_version=(3, 12))
    assert not newer.needs_fix
    launcher = RenPy(version=(8, 0, 3), source="t", executable="/sdk/renpy.sh")
    assert not launcher.needs_fix and launcher.argv("x") == ["/sdk/renpy.sh", "x"]


def test_bad_environment_settings_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_RENPY_SDK", str(tmp_path))
    with pytest.raises(RenPyMissing, match="COMFYVN_RENPY_SDK.*renpy.py"):
        renpy_tool.find_renpy()
    monkeypatch.delenv("COMFYVN_RENPY_SDK")
    monkeypatch.setenv("COMFYVN_RENPY_EXECUTABLE", str(tmp_path / "nope"))
    with pytest.raises(RenPyMissing, match="COMFYVN_RENPY_EXECUTABLE"):
        renpy_tool.find_renpy()


def test_missing_renpy_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(renpy_tool, "find_renpy", lambda: None)
    with pytest.raises(RenPyMissing, match="apt-get install renpy.*COMFYVN_RENPY_SDK"):
        renpy_tool.require_renpy()


def test_a_folder_without_game_is_refused(tmp_path):
    fake = RenPy(version=(8, 0, 3), source="t", executable=sys.executable)
    with pytest.raises(InvalidInput, match="no game/ folder"):
        renpy_tool.lint(tmp_path, renpy=fake)


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a stand-in for Ren'Py")
def test_a_run_that_never_ends_times_out_and_is_killed(tmp_path):
    launcher = tmp_path / "renpy.sh"
    launcher.write_text("#!/bin/sh\nexec sleep 60\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    project = make_project(tmp_path / "p", 'label start:\n    return\n')
    fake = RenPy(version=(8, 0, 3), source="t", executable=str(launcher))
    with pytest.raises(RenPyTimeout, match=r"renpy.quit\(status=0\)"):
        renpy_tool.run_test(project, "never", timeout=0.5, renpy=fake)


def test_found_renpy_reports_its_version(renpy):
    assert len(renpy.version) == 3 and renpy.version >= (7, 0, 0)
    if renpy.source == "debian":
        assert renpy.needs_fix == (renpy.version[:2] == (8, 0) and sys.version_info >= (3, 11))


@pytest.mark.slow
def test_lint_reports_errors_with_file_and_line(renpy, tmp_path):
    project = make_project(tmp_path / "p", 'label start:\n    "Hi."\n    jump nowhere\n')
    report = renpy_tool.lint(project, renpy=renpy)
    assert not report.ok and report.exit_code == 1
    assert report.errors == ["game/script.rpy:3 The jump is to nonexistent label 'nowhere'."]
    assert not (project / "game" / "cache").exists(), "lint must work on a copy"


@pytest.mark.slow
def test_lint_of_a_clean_game_passes_and_script_errors_fail(renpy, tmp_path):
    good = renpy_tool.lint(make_project(tmp_path / "good", 'label start:\n    "Hi."\n    return\n'), renpy=renpy)
    assert good.ok and good.errors == [] and good.exit_code == 0, good.output
    assert any("dialogue blocks" in line for line in good.statistics)
    broken = renpy_tool.lint(make_project(tmp_path / "bad", 'label start:\n    "Hi\n'), renpy=renpy)
    assert not broken.ok
    assert broken.errors and broken.errors[0].startswith("game/script.rpy:2 ")


@pytest.mark.slow
def test_compile_labels_and_run_a_testcase(renpy, tmp_path):
    project = make_project(tmp_path / "p", 'label start:\n    "Hi."\n    jump second\n\nlabel second:\n'
                                           '    $ reached = True\n    "Bye."\n    return\n')
    (project / "game" / "tests.rpy").write_text(
        "testcase walk:\n    click until label second\n    $ renpy.quit(status=0)\n\n"
        "testcase broken:\n    assert False\n    $ renpy.quit(status=0)\n", encoding="utf-8")
    labels = renpy_tool.compile_labels(project, renpy=renpy)
    assert labels == {"second": ("game/script.rpy", 5), "start": ("game/script.rpy", 1)}
    passed = renpy_tool.run_test(project, "walk", timeout=120, renpy=renpy)
    assert passed.ok, passed.output
    failed = renpy_tool.run_test(project, "broken", timeout=120, renpy=renpy)
    assert not failed.ok and failed.errors
