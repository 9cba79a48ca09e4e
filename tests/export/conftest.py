"""Fixtures for the export tests: Ren'Py itself, skipped with the reason when it is missing."""

from __future__ import annotations

import pytest

from comfyvn.export import renpy_tool
from comfyvn.export.renpy_tool import RenPy, RenPyMissing


@pytest.fixture(scope="module")
def renpy() -> RenPy:
    try:
        found = renpy_tool.find_renpy()
    except RenPyMissing as exc:
        pytest.skip(f"Ren'Py is misconfigured: {exc}")
    if found is None:
        pytest.skip("Ren'Py is not installed (apt-get install renpy, or set COMFYVN_RENPY_SDK)")
    return found
