"""Uvicorn's HTTP/1.1 protocol, with its one answer outside the contract's error shape replaced: a
request it cannot parse (a bad request line or header) got a text/plain 400 from uvicorn itself,
before the app saw it. ``server_config`` is how the server and its tests configure uvicorn."""

from __future__ import annotations

import json
from typing import Any

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
    return uvicorn.Config(app, http=JsonErrorH11Protocol, **kwargs)
