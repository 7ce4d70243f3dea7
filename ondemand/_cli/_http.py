"""Connection limits of ``ondemand serve``: header size and read timeout, keep-alive, connection count.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the number of
connections and requests in progress (``limit_concurrency``: above it, requests get
503), but it has no timeout for reading a request's head and, with its default
parser (httptools), no bound on a head's size. A client that opens connections and
sends nothing, or drips a byte every few seconds (slow loris), would keep them open
forever, and a 32 MB header would be read into memory. :func:`guarded_protocol` adds
both limits to uvicorn's HTTP protocol class: a connection whose request head is not
complete ``head_timeout_s`` after the connection opened (or after the previous
response) is closed, and a head larger than ``max_head_bytes`` is answered 431 and the
connection closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

__all__ = ["HttpLimits", "guarded_protocol", "uvicorn_options"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Limits of the HTTP server.

    Parameters
    ----------
    max_head_bytes
        Largest request line plus headers; larger heads get 431 and the connection is closed.
    head_timeout_s
        Seconds a client has to send a complete request head, from the moment the connection
        opens or the previous response was sent; then the connection is closed.
    keep_alive_s
        Seconds an idle keep-alive connection stays open after a response.
    max_connections
        Open connections and requests in progress above which new requests get 503.
    """

    max_head_bytes: int = 32 * 1024
    head_timeout_s: float = 10.0
    keep_alive_s: int = 5
    max_connections: int = 200

    def __post_init__(self) -> None:
        if self.max_head_bytes < 1024:
            raise ValueError(f"max_head_bytes must be at least 1024, got {self.max_head_bytes}")
        if self.head_timeout_s <= 0 or self.keep_alive_s <= 0:
            raise ValueError("head_timeout_s and keep_alive_s must be positive")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")


def _answer_431(max_head: int) -> bytes:
    body = f"request headers are larger than {max_head} bytes; send smaller headers\r\n".encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def guarded_protocol(base: type[asyncio.Protocol], limits: HttpLimits) -> type[asyncio.Protocol]:
    """A subclass of uvicorn's HTTP protocol ``base`` (httptools or h11) with a head size and time limit."""
    is_h11 = hasattr(base, "handle_events")
    max_head, timeout = limits.max_head_bytes, limits.head_timeout_s
    too_large = _answer_431(max_head)

    class Guarded(base):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _head_done = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._await_head()

        def _await_head(self) -> None:
            """Start waiting for the next request head (a new connection, or after a response)."""
            self._head_bytes, self._head_done = 0, False
            self._stop_head_timer()
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self._head_done and not self.transport.is_closing():
                self.transport.close()

        def _got_head(self) -> None:
            self._head_done = True
            self._stop_head_timer()

        def data_received(self, data: bytes) -> None:
            if self._head_done:
                super().data_received(data)
                return
            self._head_bytes += len(data)
            super().data_received(data)
            if is_h11 and self.conn.their_state is not _h11_idle():
                self._got_head()
            if not self._head_done and self._head_bytes > max_head and not self.transport.is_closing():
                self.transport.write(too_large)
                self.transport.close()

        def on_headers_complete(self) -> None:  # httptools: the parser's callback
            self._got_head()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            waiting = self.conn.their_state is _h11_idle() if is_h11 else not self.pipeline
            if waiting and not self.transport.is_closing():  # not while a pipelined request runs
                self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def _h11_idle() -> Any:
    import h11

    return h11.IDLE


def uvicorn_options(limits: HttpLimits | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that apply ``limits``."""
    limits = limits or HttpLimits()
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # httptools if installed, else h11

    return {
        "http": guarded_protocol(AutoHTTPProtocol, limits),
        "h11_max_incomplete_event_size": limits.max_head_bytes,
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.max_connections,
    }
