"""How ``seadragon serve`` runs the gateway in uvicorn: HTTP limits, deadlines, shutdown.

- The request head (request line and headers) must arrive within ``header_timeout_s``
  of the connection opening or of the previous response ending, and be at most
  ``max_header_bytes``: a slow or endless head is cut, so idle sockets cannot pile up.
  Bodies have their own deadline in the request guard (``body_timeout_s``).
- On SIGTERM or SIGINT, queued requests are answered 503 at once and new ones refused;
  running requests get ``shutdown_grace_s`` to finish, and whatever still runs then is
  ended with a 503 so the process exits within the grace.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from seadragon.config import Settings
from seadragon.queue.base import BaseQueueManager

#: Time kept at the end of the grace for the 503s of requests still running to go out.
ANSWER_MARGIN_S = 1.0


def _error_bytes(status: int, reason: str, message: str, code: str) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools (llhttp) protocol with a deadline and a size limit on each
    request head.

    ``_in_head`` is true from the end of one request's body (or the connection opening)
    to the end of the next request's head: bytes arriving then are head bytes.
    """

    header_timeout_s = 10.0
    max_header_bytes = 16 * 1024

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = True
        super().connection_made(transport)  # type: ignore[arg-type]
        self._rearm()

    def data_received(self, data: bytes) -> None:
        # llhttp keeps a header it has not seen the end of, however long: bound it here.
        if self._in_head:
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_header_bytes:
                self._refuse_head()
                return
        super().data_received(data)
        self._rearm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._rearm()

    def send_400_response(self, msg: str) -> None:
        # llhttp refused the request: not HTTP. Answer in the API's error shape.
        self._disarm()
        self.transport.write(
            _error_bytes(400, "Bad Request", "invalid HTTP request", "bad_request")
        )
        self.transport.close()

    def _refuse_head(self) -> None:
        self._disarm()
        limit = self.max_header_bytes
        self.transport.write(
            _error_bytes(
                431,
                "Request Header Fields Too Large",
                f"the request head is larger than {limit} bytes",
                "headers_too_large",
            )
        )
        self.transport.close()

    def _waiting_for_head(self) -> bool:
        # No request yet, or the last one answered: the next head is overdue after the deadline.
        return self._in_head and (self.cycle is None or self.cycle.response_complete)

    def _rearm(self) -> None:
        if self.transport.is_closing() or not self._waiting_for_head():
            self._disarm()
        elif self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expired(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        if self._head_bytes:  # part of a request came: say why it is cut
            timeout = self.header_timeout_s
            self.transport.write(
                _error_bytes(
                    408,
                    "Request Timeout",
                    f"the request head did not arrive within {timeout:g} s",
                    "request_timeout",
                )
            )
        self.transport.close()


def protocol_for(settings: Settings) -> type[HttpToolsProtocol]:
    """The HTTP protocol class with this configuration's head limits."""
    return type(
        "GatewayHttpProtocol",
        (DeadlineHttpProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "max_header_bytes": settings.max_header_bytes,
        },
    )


class GatewayServer(uvicorn.Server):
    """A uvicorn server whose shutdown is bounded by ``shutdown_grace_s``."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.grace_s = grace_s
        self._ending: set[asyncio.Task[None]] = set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        queue: BaseQueueManager | None = getattr(self.app.state, "queue", None)
        timer: asyncio.TimerHandle | None = None
        if queue is not None:
            await queue.stop_accepting()
            loop = asyncio.get_running_loop()
            margin = min(ANSWER_MARGIN_S, self.grace_s / 2)
            timer = loop.call_later(self.grace_s - margin, self._end_running, queue)
        try:
            await super().shutdown(sockets)
        finally:
            if timer is not None:
                timer.cancel()

    def _end_running(self, queue: BaseQueueManager) -> None:
        task = asyncio.create_task(queue.close())
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


def serve(app: FastAPI, settings: Settings, **options: Any) -> None:
    """Run ``app`` until SIGTERM/SIGINT, with the limits and the grace of ``settings``."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=protocol_for(settings),
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        **options,
    )
    GatewayServer(config, app, settings.shutdown_grace_s).run()
