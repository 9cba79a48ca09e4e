## Lets the game start on Ren'Py 8.0.x running on Python 3.11 or newer (Debian's renpy package).
## Written by ComfyVN; keep it.
##
## Ren'Py 8.0.3's screen-language compiler builds Python AST nodes whose end line lies before their
## start line. Python 3.11 checks those positions in compile() and refuses them ("ValueError: AST
## node line range ... is not valid"), so the game stops before its main menu. This block runs while
## the scripts load, before any screen is compiled, and makes compile() move such an end position
## back to the node's start first. Valid positions are never changed, and on older Pythons (every
## Ren'Py SDK ships its own) nothing is installed at all.

python early hide:
    import sys

    if sys.version_info >= (3, 11):
        import ast
        import builtins

        def clamp(tree):
            for node in ast.walk(tree):
                start = getattr(node, "lineno", None)
                end = getattr(node, "end_lineno", None)
                if start is None or end is None:
                    continue
                if end < start:
                    node.end_lineno = end = start
                col = getattr(node, "col_offset", None)
                end_col = getattr(node, "end_col_offset", None)
                if col is None or end_col is None:
                    continue
                if (col < 0 and end_col != col) or (end == start and end_col < col):
                    node.end_col_offset = col

        original = builtins.compile

        def clamping_compile(source, *args, **kwargs):
            if isinstance(source, ast.AST):
                clamp(source)
            return original(source, *args, **kwargs)

        clamping_compile.cvn_clamps = True

        if not getattr(original, "cvn_clamps", False):  # once, even when the game reloads (Shift+R)
            builtins.compile = clamping_compile
