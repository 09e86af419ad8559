"""The studio's HTTP plumbing: JSON responses and errors, the Host and Origin checks and the
body limit.

Every error is JSON ``{"error": "...", "status": N}``: a refused request is a 4xx with one
line saying why; an unexpected failure is a 500 without a stack trace (the server logs it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cnnlab.errors import CnnlabError
from cnnlab.files import finite
from cnnlab.studio.errors import StudioError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ApiResponse(JSONResponse):
    """A JSON response that turns NaN and infinities into ``null`` instead of failing."""

    def render(self, content) -> bytes:
        return json.dumps(finite(content), separators=(",", ":")).encode("utf-8")


def error(message: str, status: int) -> ApiResponse:
    return ApiResponse({"error": message, "status": status}, status)


async def on_http_error(_request: Request, exc: HTTPException) -> ApiResponse:
    """Starlette's own refusals (unknown path, wrong method, malformed form) as JSON, with
    their headers (``Allow`` for a wrong method)."""
    response = error(str(exc.detail), exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def on_user_error(_request: Request, exc: CnnlabError) -> ApiResponse:
    """A :class:`CnnlabError` from the library is a 400; a :class:`StudioError` has a status."""
    status = exc.status if isinstance(exc, StudioError) else 400
    return error(str(exc).splitlines()[0] if str(exc) else "bad request", status)


async def on_crash(_request: Request, _exc: Exception) -> ApiResponse:
    return error("internal error; the studio's terminal shows the details", 500)


EXCEPTION_HANDLERS = {
    HTTPException: on_http_error,
    CnnlabError: on_user_error,
    Exception: on_crash,
}


class HostCheck:
    """Answer only requests addressed to ``hosts`` (by name, any port): a web page elsewhere
    cannot reach the studio through a DNS name rebound to 127.0.0.1. ``None`` allows all."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str] | None) -> None:
        self.app, self.hosts = app, None if hosts is None else {h.lower() for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host = Headers(scope=scope).get("host", "")
            try:
                name = urlsplit(f"//{host}").hostname
            except ValueError:
                name = None
            if name not in self.hosts:
                allowed = ", ".join(sorted(self.hosts))
                response = error(f"this studio answers requests to {allowed} only", 400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin(scheme: str, netloc: str) -> tuple[str, str | None, int | None]:
    """``(scheme, host name, port)``, the port filled in from the scheme when absent."""
    parts = urlsplit(f"//{netloc}")
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


def cross_site(scope: Scope) -> str | None:
    """Why a request comes from a page of another site, or None.

    A browser marks every request with ``Sec-Fetch-Site`` and sends ``Origin`` with POSTs and
    scripted requests: either naming another site means a page elsewhere made the browser send
    it. A request without both (curl, a script) is not a browser's and passes.
    """
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site[:40]}"
    origin = headers.get("origin")
    if origin is None:
        return None
    try:
        given = urlsplit(origin)
        own = _origin(scope.get("scheme", "http"), headers.get("host", ""))
        if _origin(given.scheme, given.netloc) == own and given.hostname is not None:
            return None
    except ValueError:
        pass
    return f"Origin: {origin[:80]}"


class OriginCheck:
    """Refuse (403) API requests that a page of another site made the browser send: an upload
    POSTed or a heavy GET fired by any web page the user visits, as local notebook servers
    refuse them. The page and its static files stay open to links from anywhere."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            reason = cross_site(scope)
            if reason is not None:
                message = f"cross-site request refused ({reason}); open the studio's own page"
                await error(message, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes: at once when ``Content-Length`` says so,
    otherwise as soon as the bytes received pass the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.isdigit():
            await error("Content-Length must be a whole number", 400)(scope, receive, send)
            return
        if declared is not None and int(declared) > self.limit:
            await error(self._message(f"{int(declared):,}"), 413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise StudioError(self._message(f"over {self.limit:,}"), 413)
            return message

        await self.app(scope, limited, send)

    def _message(self, size: str) -> str:
        return f"the request body is {size} bytes; the studio takes at most {self.limit:,}"
