"""Small honest HTTP servers standing in for backends we cannot run here.

``FakeOllama`` and ``FakeOpenAI`` speak the documented APIs over real HTTP and record every
request body, requests in flight now and at most (generation and embeddings only), and which
streams lost their client before finishing (seen from the ASGI side). In-process:
``with FakeOllama(models=["llama3:latest"]) as fake: fake.url, fake.requests,
await fake.until(...)``; as a process: ``python -m tests.fakes.openai_server --port 9000
--token-delay 0.01``, with ``GET /_fake/stats`` and ``POST /_fake/reset`` over HTTP.
Magic model names: ``error-after-K`` fails mid-stream after K tokens, ``drop-after-K`` then
drops the connection instead, ``status-NNN`` answers HTTP NNN; other unknown models are 404s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


@dataclass
class FakeConfig:
    """Behaviour knobs; change them on a running in-process fake, they are read per request."""

    models: list[str] = field(default_factory=lambda: ["fake-model"])
    tokens: int = 8
    token_delay: float = 0.0
    service_time: float = 0.0
    error_after: int | None = None
    embeddings: bool = True
    embed_dim: int = 8
    api_key: str | None = None
    #: The next this many generations are refused for lack of room (503, as a full Ollama).
    busy_refusals: int = 0
    #: The fake Ollama holds at most this many models in memory (``OLLAMA_MAX_LOADED_MODELS``;
    #: None: no limit); loading one more evicts the least recently used.
    max_loaded: int | None = None


@dataclass
class Recorded:
    """One request as the fake saw it."""

    index: int
    path: str
    body: Any
    headers: dict[str, str]
    finished: bool = False
    disconnected: bool = False
    sent: int = 0  # body pieces written so far
    #: ``FakeConfig.service_time`` when the request arrived: a test may change the knob
    #: as soon as it sees the request, and this one must keep the old value.
    service_time: float = 0.0


class Recorder:
    """Thread-safe log of requests; the server thread writes, tests wait on conditions."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.requests: list[Recorded] = []
        self.in_flight = self.max_in_flight = 0

    def start(
        self,
        path: str,
        body: Any,
        headers: dict[str, str],
        count: bool,
        service_time: float = 0.0,
    ) -> Recorded:
        with self._cond:
            record = Recorded(len(self.requests), path, body, headers, finished=not count)
            record.service_time = service_time
            self.requests.append(record)
            if count:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            return record

    def finish(self, record: Recorded, disconnected: bool = False) -> None:
        with self._cond:
            if not record.finished:
                record.finished, record.disconnected = True, disconnected
                self.in_flight -= 1
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` holds; ``TimeoutError`` after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError("fake backend: condition not reached in time")

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """``wait_for`` without blocking the caller's event loop."""
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    def stats(self) -> dict[str, Any]:
        """Counts, and each generation request's last message in arrival order (its tag)."""
        with self._cond:
            gone = [r.index for r in self.requests if r.disconnected]
            counts = {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight}
            tags = [_tag(r) for r in self.requests if r.path.endswith(("chat", "completions"))]
            return {"requests": len(self.requests), **counts, "disconnected": gone, "tags": tags}


def _tag(record: Recorded) -> dict[str, Any]:
    messages = record.body.get("messages") if isinstance(record.body, dict) else None
    text = messages[-1].get("content") if messages else None
    return {
        "tag": text,
        "disconnected": record.disconnected,
        "finished": record.finished,
        "sent": record.sent,
    }


def token(i: int) -> str:
    """The i-th generated piece: the text reads ``tok0 tok1 tok2``."""
    return f"tok{i}" if i == 0 else f" tok{i}"


def fake_embedding(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i % len(digest)] / 255.0 for i in range(dim)]


def magic(model: str) -> tuple[int | None, int | None]:
    """(error_after, status) requested by a magic model name."""
    if m := re.fullmatch(r"(?:error|drop)-after-(\d+)", model):
        return int(m.group(1)), None
    if m := re.fullmatch(r"status-(\d{3})", model):
        return None, int(m.group(1))
    return None, None


async def pause(seconds: float, disconnected: asyncio.Event) -> bool:
    """Wait ``seconds`` unless the client leaves first; True when it has left."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(disconnected.wait(), seconds)
    return disconnected.is_set()


class FakeFailure(Exception):
    """The configured mid-stream failure, reported in the stream."""


class FakeDrop(Exception):
    """A mid-stream failure that ends the body and then drops the connection."""


@dataclass
class Plan:
    """What one generation request will produce."""

    tokens: int
    finish: str
    error_after: int | None
    drop: bool = False


def plan(config: FakeConfig, model: str, limit: Any) -> Plan:
    """Honour max_tokens / num_predict: fewer tokens than configured ends with "length"."""
    tokens, finish = config.tokens, "stop"
    if isinstance(limit, int) and 0 <= limit < tokens:
        tokens, finish = limit, "length"
    error_after = magic(model)[0]
    error_after = config.error_after if error_after is None else error_after
    return Plan(tokens, finish, error_after, model.startswith("drop-after-"))


async def generate(
    config: FakeConfig, plan: Plan, disconnected: asyncio.Event
) -> AsyncIterator[str]:
    """Paced token texts; stops when the client leaves, ``FakeFailure`` at ``error_after``."""
    if await pause(config.service_time, disconnected):
        return
    for i in range(plan.tokens):
        if i == plan.error_after:
            raise (FakeDrop if plan.drop else FakeFailure)(f"fake failure after {i} tokens")
        if i and await pause(config.token_delay, disconnected):
            return
        yield token(i)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


class RecordingStream(Response):
    """A streamed body that notices the client leaving and records it."""

    def __init__(
        self,
        produce: Callable[[asyncio.Event], AsyncIterator[bytes]],
        media_type: str,
        recorder: Recorder,
        record: Recorded,
    ) -> None:
        # No Response.__init__: it would announce a Content-Length for an empty body.
        self.status_code, self.background = 200, None
        self.raw_headers = [(b"content-type", media_type.encode())]
        self.produce, self.recorder, self.record = produce, recorder, record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        finished = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for piece in self.produce(disconnected):
                if disconnected.is_set():
                    break
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                self.record.sent += 1
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                finished = True
        except FakeDrop:  # as llama.cpp's server: the body ends, the app fails, uvicorn drops
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            finished = True
            raise
        except OSError:  # uvicorn's ClientDisconnected
            pass
        finally:
            watcher.cancel()
            self.recorder.finish(self.record, disconnected=not finished)


class FakeServer(Recorder):
    """Runs a fake's ASGI app with uvicorn in a background thread; it is its own record."""

    def __init__(self, config: FakeConfig | None = None, *, port: int = 0, **knobs: Any) -> None:
        super().__init__()
        self.config = config or FakeConfig(**knobs)
        self.app = Starlette(routes=[*self.routes(), *self._control_routes()])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        #: 0 picks a free port; the port of a stopped fake starts it again where it was.
        self.port = port

    def routes(self) -> list[Route]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def begin(self, request: Request, body: Any, count: bool = True) -> Recorded:
        return self.start(
            request.url.path, body, dict(request.headers), count, self.config.service_time
        )

    def __enter__(self) -> Self:
        sock = socket.create_server(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                ready.set()

        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        config.timeout_graceful_shutdown = 1
        self._server = Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([sock],), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake backend did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)

    def _control_routes(self) -> list[Route]:
        async def stats(request: Request) -> Response:
            return json_response(self.stats())

        async def reset(request: Request) -> Response:
            self.reset()
            return json_response({"ok": True})

        return [Route("/_fake/stats", stats), Route("/_fake/reset", reset, methods=["POST"])]
