"""Empty query values are absent ones: ``?creator=&limit=&cursor=`` is the contract's own template.

Left to FastAPI, ``limit=`` is an integer that fails to parse (422) and ``creator=`` a name that
matches nobody, so a script filling the template with blanks got errors or empty pages.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class EmptyQueryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            # Byte-level, so the parameters kept reach the route exactly as sent.
            kept = b"&".join(p for p in query.split(b"&") if p.partition(b"=")[2])
            if kept != query:
                scope = {**scope, "query_string": kept}
        await self.app(scope, receive, send)
