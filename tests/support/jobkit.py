"""Job handlers used by tests (see tests/dev_plugins/testkit.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def sleep(ctx):
    seconds = float(ctx.params.get("seconds", 1.0))
    steps = int(ctx.params.get("steps", 10))
    for step in range(steps):
        ctx.progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(seconds / steps)
    ctx.log("slept")
    return {"slept": seconds}


async def async_sleep(ctx):
    ctx.log("sleeping")
    await asyncio.sleep(float(ctx.params.get("seconds", 1.0)))
    return {"slept": True}


def block(ctx):
    """Ignores cancellation entirely; only killing the process stops it. Writes a marker file
    when it finishes, so tests can tell that killed work really stopped."""
    ctx.log(f"pid {os.getpid()}")
    time.sleep(float(ctx.params.get("seconds", 5.0)))
    marker = ctx.params.get("marker")
    if marker:
        Path(marker).write_text("finished")
    return {"pid": os.getpid()}


def fail(ctx):
    raise ValueError(ctx.params.get("message", "boom"))


def echo(ctx):
    ctx.log(f"echo {ctx.params}")
    ctx.progress(1.0, "echoed")
    return dict(ctx.params)
