"""Fixtures for the character designer tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def lora_file(tmp_path):
    path = tmp_path / "models" / "mira_style.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not really weights " * 1000)
    return path
