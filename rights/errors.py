"""The domain error tree. HTTP and CLI faces translate it in one place each.

    RightsError                  base; carries an HTTP-ish ``status`` and a stable ``code``
    ├── BadInput                 400  malformed request or feed data
    │   └── InvalidImage         400  wraps an ``indexes.ImageError`` (not an image, truncated, bomb ...)
    ├── InvalidBody              422  well-formed JSON whose fields are missing or of the wrong type
    ├── LowInformation           422  image too plain to fingerprint reliably
    ├── PayloadTooLarge          413
    ├── Unauthorized             401
    ├── Forbidden                403
    ├── NotFound                 404
    ├── Conflict                 409
    ├── FetchRefused             400  URL refused (private address, too big, bad scheme ...)
    └── UnsupportedMedia         415  request body in a content type the route does not take

Domain code raises these and never ``HTTPException``.
"""

from __future__ import annotations

import re
from typing import Any


class RightsError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class BadInput(RightsError):
    status = 400
    code = "bad_input"


class InvalidImage(BadInput):
    code = "invalid_image"


class InvalidBody(RightsError):
    """The same answer FastAPI gives a body model's validation error, for routes that read their
    JSON themselves (a body of two forms: ``POST /v1/match``, ``POST /v1/scans``)."""

    status = 422
    code = "validation_error"


class LowInformation(RightsError):
    status = 422
    code = "low_information"


class PayloadTooLarge(RightsError):
    status = 413
    code = "payload_too_large"


class Unauthorized(RightsError):
    status = 401
    code = "unauthorized"


class Forbidden(RightsError):
    status = 403
    code = "forbidden"


class NotFound(RightsError):
    status = 404
    code = "not_found"


class Conflict(RightsError):
    status = 409
    code = "conflict"


class FetchRefused(BadInput):
    code = "fetch_refused"

    def __init__(self, message: str, **context: Any) -> None:
        # A URL's user:password is not repeated back: not to the caller, into findings or the log.
        if context.get("url") is not None:
            given = str(context["url"])
            context["url"] = _without_credentials(given)
            message = message.replace(given, context["url"])
        super().__init__(message, **context)


def _without_credentials(url: str) -> str:
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1", url)


class UnsupportedMedia(RightsError):
    status = 415
    code = "unsupported_media_type"
