"""Asset test fixtures: no preview work or open registry leaks from one test into the next."""

from __future__ import annotations

import io
import json
import struct
import wave

import pytest
from PIL import Image, PngImagePlugin

from comfyvn.assets import previews, registry


@pytest.fixture(autouse=True)
def asset_isolation(runtime_root):
    """Wait for the preview worker and forget the shared registries after every test."""
    registry.reset()
    yield
    assert previews.wait_idle(timeout=120), "the preview worker did not finish"
    registry.reset()


def png(seed: int = 0, size=(64, 48), **text: str) -> bytes:
    """A distinct PNG per ``seed`` (optional tEXt chunks)."""
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 11) % 256, (seed // 256) % 256))
    image.putpixel((0, 0), (seed % 251, 1, 2))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def comfyui_png(seed: int = 0) -> bytes:
    return png(seed, prompt=json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}),
               workflow=json.dumps({"nodes": [{"id": 3}]}))


def wav(seed: int = 0, frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", ((i * (seed + 3)) % 2000) - 1000) for i in range(frames)))
    return buffer.getvalue()


@pytest.fixture
def reg():
    """The default project's registry (the project is created on first use)."""
    return registry.registry().open()
