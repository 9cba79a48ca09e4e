"""Launcher that lets Ren'Py 8.0.x run on Python 3.11+.

Run as a script by the interpreter that has Ren'Py's compiled modules::

    /usr/bin/python3 renpy_fix.py /usr/share/games/renpy/renpy.py <project> lint --error-code

Ren'Py 8.0.3's screen-language compiler builds AST nodes whose end position lies before their
start (``end_lineno < lineno``). Python 3.11's ``compile()`` validates positions and refuses them
("ValueError: AST node line range (628, 1) is not valid", Ren'Py issue #5461), so lint, compile and
test crash before doing any work. This launcher wraps ``builtins.compile`` so such positions are
clamped to the node's start before compiling, then runs ``renpy.py`` exactly as if it had been
started directly (same ``sys.argv`` and ``sys.path[0]``). Valid positions are never touched, so the
wrapper is harmless on Ren'Py versions and Pythons without the bug; on Pythons before 3.11 it is
not installed at all.

Standard library only, and no imports from comfyvn: it runs under Ren'Py's interpreter.
"""

import ast
import builtins
import os
import runpy
import sys

_original_compile = builtins.compile


def clamp_positions(tree):
    """Make every node's end position no earlier than its start; returns ``tree``."""
    for node in ast.walk(tree):
        lineno = getattr(node, "lineno", None)
        end_lineno = getattr(node, "end_lineno", None)
        if lineno is None or end_lineno is None:
            continue
        if end_lineno < lineno:
            node.end_lineno = end_lineno = lineno
        col = getattr(node, "col_offset", None)
        end_col = getattr(node, "end_col_offset", None)
        if col is None or end_col is None:
            continue
        if (col < 0 and end_col != col) or (end_lineno == lineno and end_col < col):
            node.end_col_offset = col
    return tree


def fixed_compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kwargs):
    """``compile()`` that clamps invalid AST positions first (AST input only)."""
    if isinstance(source, ast.AST):
        clamp_positions(source)
    return _original_compile(source, filename, mode, flags, dont_inherit, optimize, **kwargs)


def install():
    """Replace ``builtins.compile`` when this Python validates AST positions (3.11+)."""
    if sys.version_info >= (3, 11):  # noqa: UP036 - runs under Ren'Py's Python, which may be older
        builtins.compile = fixed_compile


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: renpy_fix.py <path to renpy.py> [Ren'Py arguments...]\n")
        return 2
    script = os.path.abspath(argv[1])
    install()
    sys.argv = [script] + list(argv[2:])
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
