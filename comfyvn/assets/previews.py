"""Thumbnails (256 and 512 px PNG) and waveforms, made on one background worker thread so
registering an asset never waits for them. The sidecar's ``preview`` says where they are:

    {"status": "pending"}                                    queued
    {"status": "ready", "thumbnails": {"256": ".previews/<uid>.256.png", "512": ...}, "width", "height"}
    {"status": "ready", "waveform": ".previews/<uid>.waveform.json", "duration_sec": ...}
    {"status": "skipped", "reason": "..."} / {"status": "failed", "error": "..."}

Assets still ``pending`` when a process stopped are picked up again the next time the registry
opens in a process that makes previews (:func:`catch_up`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comfyvn.assets import media, paths
from comfyvn.core.errors import ComfyVNError

if TYPE_CHECKING:
    from comfyvn.assets.registry import AssetRegistry

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_futures: set[Future[Any]] = set()
_lock = threading.Lock()


def _submit(fn: Any, *args: Any) -> None:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asset-previews")
        future = _executor.submit(fn, *args)
        _futures.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[Any]) -> None:
    with _lock:
        _futures.discard(future)


def schedule(registry: AssetRegistry, uid: str) -> None:
    """Queue the previews of ``uid`` (a no-op when ``assets.previews`` is ``off``)."""
    if enabled():
        _submit(_make, registry, uid)


def catch_up(registry: AssetRegistry) -> None:
    """Queue every asset whose previews are still pending."""
    if enabled():
        _submit(lambda: [_make(registry, uid) for uid in registry.index.preview_pending()])


def enabled() -> bool:
    from comfyvn.config.settings import SettingsManager

    return SettingsManager().get("assets.previews", "background") != "off"


def wait_idle(timeout: float = 60.0) -> bool:
    """Block until the queue is empty (tests, benchmarks, CLI tools before exiting)."""
    while True:
        with _lock:
            pending = set(_futures)
        if not pending:
            return True
        done, not_done = wait(pending, timeout=timeout)
        if not_done:
            return False


def remove_files(root: Path, uid: str) -> None:
    folder = root / paths.PREVIEWS
    if folder.is_dir() and not folder.is_symlink():
        for path in folder.glob(f"{uid}.*"):
            path.unlink(missing_ok=True)


def make(registry: AssetRegistry, sidecar: dict[str, Any]) -> dict[str, Any]:
    """The previews of one asset, written now; returns the ``preview`` object for its sidecar."""
    source = paths.resolve(registry.root, sidecar["path"])
    uid = sidecar["uid"]
    try:
        folder = paths.previews_folder(registry.root)
        if paths.KINDS.get(sidecar["type"]) == "audio" or sidecar.get("meta", {}).get("mime", "").startswith("audio/"):
            dest = folder / f"{uid}.waveform.json"
            try:
                info = media.write_waveform(source, dest)
            except media.WaveformUnavailable as exc:
                return {"status": "skipped", "reason": str(exc)}
            return {"status": "ready", "waveform": f"{paths.PREVIEWS}/{dest.name}",
                    "duration_sec": info.get("duration_sec")}
        names = media.make_thumbnails(source, folder, uid)
        info = media.image_info(source)
        return {"status": "ready", "thumbnails": {size: f"{paths.PREVIEWS}/{name}" for size, name in names.items()},
                "width": info.get("width"), "height": info.get("height")}
    except ComfyVNError as exc:
        return {"status": "failed", "error": exc.message}
    except OSError as exc:
        log.warning("previews of asset %s failed: %s", uid, exc)
        return {"status": "failed", "error": f"cannot read or write the files: {exc.strerror or exc}"}


def _make(registry: AssetRegistry, uid: str) -> None:
    try:
        sidecar = registry.index.get(uid)
        if sidecar is None or sidecar.get("preview", {}).get("status") != "pending":
            return
        registry.set_preview(uid, make(registry, sidecar))
    except Exception:  # the worker must survive anything one asset does
        log.exception("previews of asset %s failed", uid)
