"""ASGI middleware of the API: the request-body size limit and the security headers."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PAGE_CSP", "BodyLimit", "SecurityHeaders"]

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: https://tile.openstreetmap.org; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
"""Content-Security-Policy of the pages and static files (the live map loads only its own files)."""

_DOCS = ("/docs",)  # Swagger UI's page starts it with an inline script: no CSP there (its files are local)


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes; send a smaller body")


class BodyLimit:
    """ASGI middleware: answer 413 for bodies above ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    detail = f"request body is larger than {self.max_bytes} bytes; send a smaller body"
                    resp = JSONResponse({"detail": detail}, status_code=413)
                    await resp(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


class SecurityHeaders:
    """ASGI middleware: every answer may not be framed or MIME-sniffed and sends no referrer.

    Every answer but the API docs also gets :data:`PAGE_CSP` (unless it sets its own).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not str(scope.get("path", "")).startswith(_DOCS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                have = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if csp:
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                headers += [(name, value) for name, value in extra if name not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
