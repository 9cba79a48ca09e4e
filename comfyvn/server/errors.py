"""The one error envelope, used by every 4xx and 5xx answer::

    {"error": {"code": "not_found", "message": "job 'x' was not found", "status": 404,
               "request_id": "4f1c...", "details": {...}}}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from comfyvn.core.errors import ComfyVNError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "status": {"type": "integer"},
                "request_id": {"type": "string"},
                "details": {"type": "object"},
            },
            "required": ["code", "message", "status", "request_id"],
        }
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Error envelope", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
}


def envelope(status: int, code: str, message: str, request_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "request_id": request_id,
            "details": details or {},
        }
    }


def request_id_of(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "") or request.headers.get("x-request-id", "")


def error_response(request: Request, status: int, code: str, message: str,
                   details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    # The X-Request-ID header is added by RequestMiddleware to every answer.
    return JSONResponse(envelope(status, code, message, request_id_of(request), details), status_code=status,
                        headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _comfyvn_error(request: Request, exc: ComfyVNError) -> JSONResponse:
    if exc.status >= 500:
        log.error("Request failed", extra={"path": request.url.path, "code": exc.code, "error": exc.message})
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": _field(err.get("loc", ())), "message": err.get("msg", "invalid"), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    if errors:
        first = errors[0]
        message = f"invalid request: {first['field']}: {first['message']}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
    else:
        message = "invalid request"
    return error_response(request, 422, "validation_error", message, {"errors": errors})


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no endpoint at {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return error_response(request, exc.status_code, code, detail, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request)
    log.exception("Unhandled error", extra={"path": request.url.path, "request_id": request_id})
    # Starlette answers unhandled errors outside the user middleware, so the id header is set here.
    return error_response(
        request, 500, "internal_error",
        "internal server error; the server log has the details (search it for this request_id)",
        headers={"X-Request-ID": request_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ComfyVNError, _comfyvn_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
