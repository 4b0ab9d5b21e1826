"""The HTTP plumbing every Seadragon backend shares, over aiohttp.

``HTTPBackend`` holds one pooled ``aiohttp.ClientSession`` per backend (made on first use:
aiohttp wants a running event loop), transport failures translated into Seadragon's
errors, upstream error bodies shortened to a safe one-line message, and streamed bodies
read line by line. ``OpenAIBackend`` and ``OllamaBackend`` build on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import orjson

from seadragon.backends.base import Backend
from seadragon.backends.lines import Lines as Lines
from seadragon.config import BackendConfig
from seadragon.errors import (
    BackendBusy,
    BackendUnreachable,
    InvalidRequest,
    ModelNotFound,
    SeadragonError,
    UpstreamError,
    UpstreamTimeout,
)

#: A slow connect means a host that is down; fail fast rather than after the read timeout.
CONNECT_TIMEOUT_S = 10.0
#: Idle connections are dropped before the 5 s after which uvicorn-based servers (vLLM,
#: llama.cpp's Python server) close theirs, so a request seldom meets a closing one.
KEEPALIVE_S = 4.0
#: After a stream has finished, this much more of its body is read (at most, for at most
#: that long) so the connection goes back to the pool; past it, the connection is closed.
DRAIN_LIMIT = 64 * 1024
DRAIN_TIMEOUT_S = 1.0
#: Upstream error bodies are cut to this before they become part of a client-facing message.
MESSAGE_LIMIT = 200
#: Top-level request fields that name places to connect to; never forwarded.
URL_FIELDS = frozenset({"api_base", "base_url", "api_url", "url", "endpoint", "host", "proxy"})
JSON_HEADERS = {"content-type": "application/json"}
#: How a kept-alive connection the server had already closed fails (``ClientConnectorError``,
#: a failed connect, is an ``ClientOSError`` too but is never retried).
STALE_CONNECTION = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientConnectionResetError,
    aiohttp.ClientOSError,
)

ErrorMapper = Callable[[int, str, str], SeadragonError]


def strip_url_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``body`` without fields that could point the backend somewhere else."""
    return {
        key: value
        for key, value in body.items()
        if key.lower() not in URL_FIELDS
        and not key.lower().endswith(("_url", "_uri", "_base", "_endpoint"))
    }


def short_message(text: str) -> str:
    """First non-empty line of an upstream message, cut short: no tracebacks reach callers."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"


def upstream_message(raw: bytes) -> str:
    """The human message inside an upstream error body, whatever its dialect."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return short_message(raw.decode("utf-8", "replace"))
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return short_message(str(error))
    return short_message(str(data))


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read the little that follows a finished stream (often just the end of a chunked
    body) so that the connection is kept alive; close it if the server goes on."""
    content = resp.content
    if content.at_eof():
        return
    left = DRAIN_LIMIT
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while left > 0 and not content.at_eof():
                left -= len(await content.readany())
    except (aiohttp.ClientError, TimeoutError):
        pass  # what mattered was read; the connection is simply not reused
    if not content.at_eof():
        resp.close()


class HTTPBackend(Backend):
    """A backend reached over HTTP with one pooled client session."""

    def __init__(
        self,
        config: BackendConfig,
        timeout_s: float,
        *,
        base_url: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(config)
        #: Requests go to ``base_url + path`` (the local model learns its port at start).
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        # Per read, not per answer: a long generation is never cut while tokens still come.
        connect = min(timeout_s, CONNECT_TIMEOUT_S)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=timeout_s
        )
        # aiohttp starts the read timeout once the body is sent and has no write timeout:
        # an upstream that stops reading a large body must not hold the request forever.
        self._send_timeout_s = connect + 2 * timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def close(self) -> None:
        """Release connections."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use, inside the event loop that uses it."""
        session = self._session
        if session is None:
            if self._closed:
                raise UpstreamError(f"backend {self.name!r} is closed")
            # Seadragon, not aiohttp, decides how many requests run (the slots), so no pool
            # cap; proxies from the environment are for the internet, not for configured
            # backends; cookies would carry one caller's upstream state into the next.
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S),
                timeout=self._timeout,
                headers=self._headers,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return session

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except TimeoutError as exc:  # aiohttp's connect and read timeouts included
            raise UpstreamTimeout(
                f"backend {self.name!r} timed out ({type(exc).__name__})"
            ) from None
        except aiohttp.ClientConnectorError:
            raise UpstreamError(f"backend {self.name!r} is unreachable") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"backend {self.name!r} broke the connection ({type(exc).__name__})"
            ) from None

    def _status_error(self, status: int, message: str, model: str) -> SeadragonError:
        if status == 404 and "model" in message.lower():
            return ModelNotFound(f"model {model!r} is not available on backend {self.name!r}")
        if status in (400, 422):
            return InvalidRequest(f"backend {self.name!r} rejected the request: {message}")
        if status in (401, 403):
            return UpstreamError(f"backend {self.name!r} refused Seadragon's credentials")
        if status in (408, 504):
            return UpstreamTimeout(f"backend {self.name!r} timed out ({status})")
        if status in (429, 503):
            return BackendBusy(f"backend {self.name!r} answered {status}: {message}")
        return UpstreamError(f"backend {self.name!r} answered {status}: {message}")

    async def _request_json(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        model: str = "",
        errors: ErrorMapper | None = None,
    ) -> Any:
        content = None if payload is None else orjson.dumps(payload)
        with self._transport_errors():
            resp = await self._send(method, path, content)
            try:
                raw = await resp.read()
            finally:
                resp.release()
        if not 200 <= resp.status < 300:
            mapper = errors or self._status_error
            raise mapper(resp.status, upstream_message(raw), model)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"backend {self.name!r} answered malformed JSON") from None

    def _stream_object(self, raw: str, what: str) -> dict[str, Any]:
        """One JSON object of a streamed answer (an NDJSON ``line`` or an SSE ``event``);
        an object carrying ``error`` is the backend failing mid-stream."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"backend {self.name!r} sent a malformed {what}") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"backend {self.name!r} sent a malformed {what}")
        if "error" in data:
            message = upstream_message(orjson.dumps(data))
            raise UpstreamError(f"backend {self.name!r} failed mid-stream: {message}")
        return data

    @asynccontextmanager
    async def _stream(
        self, path: str, payload: Any, model: str
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and hold the response open; leaving the block early closes the connection,
        leaving it normally reads the body to its end so the connection is reused."""
        with self._transport_errors():
            resp = await self._send("POST", path, orjson.dumps(payload))
            try:
                if not 200 <= resp.status < 300:
                    raw = await resp.read()
                    raise self._status_error(resp.status, upstream_message(raw), model)
                yield resp
                await _drain(resp)
            except BaseException:
                # aclose(), a cancelled consumer or a failure: the server must see us go
                # now (that is how cancellation reaches the GPU), unless all was read.
                if not resp.content.at_eof():
                    resp.close()
                raise
            finally:
                resp.release()

    async def _send(self, method: str, path: str, content: bytes | None) -> aiohttp.ClientResponse:
        """The answer's status and headers; its body is read by the caller."""
        session = self._client()
        url = self.base_url + path
        headers = JSON_HEADERS if content else None

        async def attempt() -> aiohttp.ClientResponse:
            async with asyncio.timeout(self._send_timeout_s):
                return await session.request(
                    method, url, data=content, headers=headers, allow_redirects=False
                )

        try:
            try:
                return await attempt()
            except STALE_CONNECTION as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise
                # A kept-alive connection the server closed (uvicorn-based servers do after
                # a failed stream, or when idle) fails before any answer: one fresh attempt.
                return await attempt()
        except aiohttp.ClientConnectorError:
            raise BackendUnreachable(f"backend {self.name!r} is unreachable") from None
        except STALE_CONNECTION as exc:
            # Reset twice before the first byte of an answer: as good as down.
            raise BackendUnreachable(
                f"backend {self.name!r} broke the connection before answering "
                f"({type(exc).__name__})"
            ) from None
