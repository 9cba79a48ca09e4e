"""Mount the compute plugin for these tests even before it is listed in CORE_PLUGINS."""

from __future__ import annotations

import pytest

from comfyvn.core import plugins

MODULE = "comfyvn.compute.domain"


@pytest.fixture(autouse=True)
def compute_plugin(monkeypatch):
    if MODULE not in plugins.CORE_PLUGINS:
        monkeypatch.setattr(plugins, "CORE_PLUGINS", (*plugins.CORE_PLUGINS, MODULE))
        plugins.reset()
