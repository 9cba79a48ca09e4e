"""The modder hook bus: the one event bus of the product.

Every event is declared once (``comfyvn_events`` plugin hook) with its payload fields and a
description; emitting an undeclared event or a payload that does not match its declaration raises
at once, so mistakes surface in tests rather than in a modder's listener.

Listeners run synchronously in the emitter's thread, in subscription order. A listener that
raises is logged with the event name and never affects other listeners or the emitter. Each
emit returns the envelope ``{"event", "payload", "timestamp"}``, which is also kept in a bounded
history ring for the REST API.

Module-level :func:`emit`, :func:`subscribe` and :func:`history` use the process-wide bus::

    from comfyvn.core import modder_hooks

    unsubscribe = modder_hooks.subscribe("on_asset_*", lambda envelope: print(envelope["event"]))
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comfyvn.core.errors import InvalidInput

log = logging.getLogger(__name__)

Envelope = dict[str, Any]
Listener = Callable[[Envelope], None]

DEFAULT_HISTORY_SIZE = 500


@dataclass(frozen=True)
class EventSpec:
    """A declared event: its name, what it means, and the payload fields it always carries."""

    name: str
    description: str
    fields: Mapping[str, str] = field(default_factory=dict)  # field name -> description
    owner: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "fields": dict(self.fields),
            "owner": self.owner,
        }


class UndeclaredEvent(InvalidInput):
    code = "undeclared_event"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"event '{name}' is not declared; declare it with the comfyvn_events plugin hook",
            details={"event": name},
        )


class PayloadMismatch(InvalidInput):
    code = "payload_mismatch"


def _declared_specs() -> dict[str, EventSpec]:
    from comfyvn.core import plugins

    return plugins.events()


def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


class HookBus:
    def __init__(
        self,
        *,
        history_size: int = DEFAULT_HISTORY_SIZE,
        specs: Callable[[], Mapping[str, EventSpec]] = _declared_specs,
    ) -> None:
        self._specs = specs
        self._lock = threading.Lock()
        # Every subscription is its own entry, numbered so listeners run in subscription order and
        # an unsubscribe removes exactly its own entry (never another subscription of the same callback).
        self._seq = itertools.count()
        self._exact: dict[str, tuple[tuple[int, Listener], ...]] = {}
        self._patterns: tuple[tuple[int, str, Listener], ...] = ()
        self._resolved: dict[str, tuple[Listener, ...]] = {}
        self._history: deque[Envelope] = deque(maxlen=history_size)
        self.emitted = 0
        self.listener_errors = 0

    # -- declarations ---------------------------------------------------------------------------
    def specs(self) -> dict[str, EventSpec]:
        return dict(self._specs())

    def spec(self, name: str) -> EventSpec:
        spec = self._specs().get(name)
        if spec is None:
            raise UndeclaredEvent(name)
        return spec

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, event: str, callback: Listener) -> Callable[[], None]:
        """Call ``callback(envelope)`` for ``event`` (exact name or a ``*`` wildcard pattern).

        Returns a function that removes the subscription; calling it twice is harmless.
        """
        if not _is_pattern(event):
            self.spec(event)  # a typo in a subscription is as wrong as one in an emit
        with self._lock:
            seq = next(self._seq)
            if _is_pattern(event):
                self._patterns = (*self._patterns, (seq, event, callback))
            else:
                self._exact[event] = (*self._exact.get(event, ()), (seq, callback))
            self._resolved = {}

        def unsubscribe() -> None:
            with self._lock:
                if _is_pattern(event):
                    self._patterns = tuple(e for e in self._patterns if e[0] != seq)
                else:
                    self._exact[event] = tuple(e for e in self._exact.get(event, ()) if e[0] != seq)
                self._resolved = {}

        return unsubscribe

    def listener_count(self) -> int:
        return sum(len(v) for v in self._exact.values()) + len(self._patterns)

    def _listeners(self, event: str) -> tuple[Listener, ...]:
        resolved = self._resolved.get(event)
        if resolved is None:
            with self._lock:
                matched = [(seq, cb) for seq, pattern, cb in self._patterns if fnmatch.fnmatchcase(event, pattern)]
                resolved = tuple(cb for _, cb in sorted([*self._exact.get(event, ()), *matched], key=lambda e: e[0]))
                self._resolved[event] = resolved
        return resolved

    # -- emitting -------------------------------------------------------------------------------
    def validate(self, event: str, payload: Mapping[str, Any]) -> None:
        spec = self.spec(event)
        if not isinstance(payload, Mapping):
            raise PayloadMismatch(f"payload of '{event}' must be an object", details={"event": event})
        missing = sorted(set(spec.fields) - set(payload))
        extra = sorted(set(payload) - set(spec.fields))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"undeclared {', '.join(extra)}")
            raise PayloadMismatch(
                f"payload of '{event}' does not match its declaration: {'; '.join(parts)}",
                details={"event": event, "missing": missing, "undeclared": extra},
            )

    def emit(self, event: str, payload: Mapping[str, Any]) -> Envelope:
        """Validate, record and deliver one event. Listener failures are logged, never raised."""
        self.validate(event, payload)
        envelope: Envelope = {"event": event, "payload": dict(payload), "timestamp": time.time()}
        self._history.append(envelope)
        self.emitted += 1
        for listener in self._listeners(event):
            try:
                listener(envelope)
            except Exception:
                self.listener_errors += 1
                log.exception("Hook listener failed", extra={"hook_event": event, "listener": repr(listener)})
        return envelope

    def history(self, *, limit: int | None = None, event: str | None = None) -> list[Envelope]:
        items = list(self._history)
        if event:
            items = [e for e in items if fnmatch.fnmatchcase(e["event"], event)]
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return items

    def clear_history(self) -> None:
        self._history.clear()


_default: HookBus | None = None
_default_lock = threading.Lock()


def bus() -> HookBus:
    """The process-wide bus, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = HookBus()
    return _default


def reset(history_size: int = DEFAULT_HISTORY_SIZE) -> HookBus:
    """Replace the process-wide bus (server start-up and tests)."""
    global _default
    with _default_lock:
        _default = HookBus(history_size=history_size)
    return _default


def emit(event: str, payload: Mapping[str, Any]) -> Envelope:
    return bus().emit(event, payload)


def subscribe(event: str, callback: Listener) -> Callable[[], None]:
    return bus().subscribe(event, callback)


def history(*, limit: int | None = None, event: str | None = None) -> list[Envelope]:
    return bus().history(limit=limit, event=event)


def specs() -> dict[str, EventSpec]:
    return bus().specs()
