"""The one place where exceptions become HTTP answers, all in the contract's shape.

``{"error": {"code": "...", "message": "..."}}`` with the error's status. Domain errors carry their own
status and code; request validation is 422 ``validation_error`` (a body that is not JSON at all
400 ``bad_input``, as everywhere); an ``indexes.ImageError`` is a 400 with
the image's reason; a database another process holds locked past the busy timeout is 503 ``busy``
(retry later); a full disk is 507 ``insufficient_storage``; anything else is a bug and answers
500 ``internal`` without details.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from indexes import ImageError
from rights.errors import RightsError

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RightsError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, ImageError):
        return error_response(400, exc.code, exc.message)
    if isinstance(exc, RequestValidationError):
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            # Not JSON at all: 400, as on the routes that parse their own bodies (match, scans).
            return error_response(
                400, "bad_input", f"the body is not valid JSON ({_describe_validation(exc)})"
            )
        return error_response(422, "validation_error", _describe_validation(exc))
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))
    if isinstance(exc, ClientDisconnect):
        # The client went away mid-body: nobody reads this answer, and it is no server error.
        logger.info("client disconnected during %s %s", request.method, request.url.path)
        return error_response(400, "bad_input", "the client disconnected before the request body ended")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        # Another process (a CLI bulk register, a scan) held the write lock past BUSY_TIMEOUT_MS.
        logger.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
        response = error_response(503, "busy", "the registry is busy with another writer; retry shortly")
        response.headers["Retry-After"] = "5"
        return response
    if _disk_full(exc):
        # The server's condition, not the request's: nothing was half-written (registration is one
        # transaction), and the client may retry once space is freed.
        logger.error("disk full on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            507, "insufficient_storage", "the registry's disk is full; retry once space is freed"
        )
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged")


def _disk_full(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


def install_error_handler(app: FastAPI) -> None:
    # sqlite3.OperationalError, OSError and ClientDisconnect are named so that they are answered here: a
    # handler for Exception alone runs in Starlette's outermost middleware, which re-raises after
    # answering (uvicorn then logs "Exception in ASGI application").
    handled = (
        RightsError,
        ImageError,
        RequestValidationError,
        StarletteHTTPException,
        ClientDisconnect,
        sqlite3.OperationalError,
        OSError,
    )
    for exc_class in (*handled, Exception):
        app.add_exception_handler(exc_class, handle_error)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        message = str(err.get("msg", "invalid"))
        if "Expected UploadFile" in message:  # "... received: <class 'str'>" said nothing to a client
            message = "must be a file part (with a filename), not a text field"
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "the request is invalid"
