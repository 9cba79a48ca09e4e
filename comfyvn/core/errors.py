"""Typed errors. Domain code raises these; the server maps them to the one error envelope.

No FastAPI here: domains stay plain Python. ``comfyvn.server.errors`` turns an exception into
``{"error": {"code", "message", "status", "request_id", "details"}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ComfyVNError(Exception):
    """Base of every error the product reports to users."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = dict(details or {})


class InvalidInput(ComfyVNError):
    status = 422
    code = "invalid_input"


class BadRequest(ComfyVNError):
    status = 400
    code = "bad_request"


class Unauthorized(ComfyVNError):
    status = 401
    code = "unauthorized"


class Forbidden(ComfyVNError):
    status = 403
    code = "forbidden"


class FeatureDisabled(Forbidden):
    code = "feature_disabled"

    def __init__(self, flag: str) -> None:
        super().__init__(
            f"Feature '{flag}' is disabled. Enable it in Settings > Feature Flags or with "
            f"`comfyvn flags enable {flag}`.",
            details={"flag": flag},
        )
        self.flag = flag


class NotFound(ComfyVNError):
    status = 404
    code = "not_found"


class Conflict(ComfyVNError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ComfyVNError):
    status = 413
    code = "payload_too_large"


class UpstreamError(ComfyVNError):
    """A service we depend on (an LLM endpoint, a render server) failed or answered nonsense."""

    status = 502
    code = "upstream_error"


class Unavailable(ComfyVNError):
    status = 503
    code = "unavailable"


def get_or_404(lookup: Mapping[str, T] | Callable[[str], T | None], key: str, what: str) -> T:
    """Return ``lookup[key]`` (or ``lookup(key)``) or raise :class:`NotFound` naming ``what``."""
    value = lookup.get(key) if isinstance(lookup, Mapping) else lookup(key)
    if value is None:
        raise NotFound(f"{what} '{key}' was not found", details={"kind": what, "id": key})
    return value
