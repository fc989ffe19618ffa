"""Uvicorn's HTTP/1.1 protocol, with its one answer outside the contract's error shape replaced: a
request it cannot parse (a bad request line or header) got a text/plain 400 from uvicorn itself,
before the app saw it. ``server_config`` is how the server and its tests configure uvicorn;
``AnnouncingServer`` is the server ``rights serve`` runs."""

from __future__ import annotations

import json
import logging
import socket
import sys
from typing import Any
from urllib.parse import unquote_plus

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = json.dumps(
            {"error": {"code": "bad_input", "message": f"malformed HTTP request: {msg}"}}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def server_config(app: Any, **kwargs: Any) -> uvicorn.Config:
    config = uvicorn.Config(app, http=JsonErrorH11Protocol, **kwargs)  # configures uvicorn's loggers
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PrivateQueryRedaction) for f in access.filters):
        access.addFilter(PrivateQueryRedaction())
    return config


class PrivateQueryRedaction(logging.Filter):
    """A notice's contact details and holder name (query parameters of ``GET /v1/cases/{id}/notice``)
    are printed in the notice, not in the access log: a home address or phone number would
    otherwise sit in every log file and log shipper the server writes to. The stored profile
    (``PUT /v1/profile``) carries the same details in its body, which is never logged."""

    _PRIVATE = frozenset({"contact", "holder_name"})

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client, method, path with query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], self._redacted(args[2]), *args[3:])
        return True

    def _redacted(self, target: str) -> str:
        path, _, query = target.partition("?")
        fields = []
        for field in query.split("&"):
            key, equals, _ = field.partition("=")
            # Keys are compared decoded, as the app reads them: ``%63ontact`` is ``contact`` there too.
            fields.append(f"{key}=[redacted]" if equals and unquote_plus(key) in self._PRIVATE else field)
        return f"{path}?{'&'.join(fields)}"


class AnnouncingServer(uvicorn.Server):
    """Prints ``message`` to stderr once the lifespan has opened the registry and requests are
    served, so a script waiting for that line can call the API at once (a large index takes
    seconds to open, and until then the bound socket only queues connections)."""

    def __init__(self, config: uvicorn.Config, message: str) -> None:
        super().__init__(config)
        self.message = message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.message, file=sys.stderr, flush=True)
