"""Upload size limits, enforced twice: on the declared Content-Length and on the bytes actually received.

The declared length lets us refuse a 2 GB upload before reading it; counting received bytes catches
chunked bodies and lying headers. Both answer 413 in the contract's error shape.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rights.api.errors import error_response
from rights.errors import BadInput, PayloadTooLarge

# Room for multipart boundaries and the small form fields next to the image.
FORM_OVERHEAD_BYTES = 64 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            status, code = (413, "payload_too_large") if declared.isdigit() else (400, "bad_input")
            response = error_response(status, code, self._message(declared))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # HTTPException, not a domain error: FastAPI re-raises it from body parsing untouched.
                    raise HTTPException(413, f"request body is larger than {self.max_body_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, declared: bytes) -> str:
        if not declared.isdigit():
            return "Content-Length is not a number"
        return f"request body of {int(declared)} bytes is larger than the limit of {self.max_body_bytes}"


def read_upload(upload: UploadFile, max_bytes: int, field: str = "image") -> bytes:
    """Read an uploaded file (blocking: call from a worker thread) within ``max_bytes``."""
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{field} is larger than {max_bytes} bytes")
    if not data:
        raise BadInput(f"{field} is empty")
    return data
