"""A small client for one Ollama server's model API, errors translated at the boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from seadragon.errors import (
    InvalidRequest,
    ModelNotFound,
    SeadragonError,
    UpstreamError,
    UpstreamTimeout,
)

#: Listing must not hang the caller on a backend that is slow to answer.
LIST_TIMEOUT = httpx.Timeout(5.0)
#: A pull can sit silent while Ollama verifies a large blob; connecting must still be quick.
PULL_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=5.0)
MESSAGE_LIMIT = 300


def _message(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = raw.decode("utf-8", "replace")
    if isinstance(data, dict) and "error" in data:
        data = data["error"]
    text = str(data).strip().splitlines()[0] if str(data).strip() else "no message"
    return text[:MESSAGE_LIMIT]


class OllamaHost:
    """One Ollama backend, by name and URL."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url.rstrip("/")

    def _error(self, status: int, raw: bytes, model: str) -> SeadragonError:
        message = _message(raw)
        if status == 404:
            return ModelNotFound(f'model "{model}" not found on backend {self.name!r}: {message}')
        if status == 400:
            return InvalidRequest(f"backend {self.name!r}: {message}")
        return UpstreamError(f"backend {self.name!r} answered {status}: {message}")

    def _client(self, timeout: httpx.Timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=timeout, trust_env=False)

    async def call(
        self, method: str, path: str, body: Any = None, *, model: str = "", raw: bytes | None = None
    ) -> Any:
        """One request; the JSON answer (``None`` for an empty body)."""
        content = raw if raw is not None else (None if body is None else orjson.dumps(body))
        headers = {"content-type": "application/json"} if raw is None and content else {}
        try:
            async with self._client(PULL_TIMEOUT if raw is not None else LIST_TIMEOUT) as http:
                resp = await http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"backend {self.name!r} timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"backend {self.name!r} is unreachable ({type(exc).__name__})"
            ) from None
        if resp.status_code >= 400:
            raise self._error(resp.status_code, resp.content, model)
        if not resp.content.strip():
            return None
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            return None

    async def stream(
        self, path: str, body: dict[str, Any], model: str
    ) -> AsyncIterator[dict[str, Any]]:
        """POST with ``stream: true``; each NDJSON line as it comes (errors raised)."""
        try:
            async with (
                self._client(PULL_TIMEOUT) as http,
                http.stream(
                    "POST",
                    path,
                    content=orjson.dumps({**body, "stream": True}),
                    headers={"content-type": "application/json"},
                ) as resp,
            ):
                if resp.status_code >= 400:
                    raise self._error(resp.status_code, await resp.aread(), model)
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        data = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        raise UpstreamError(
                            f"backend {self.name!r} sent a malformed line"
                        ) from None
                    if isinstance(data, dict) and "error" in data:
                        raise UpstreamError(f"backend {self.name!r}: {_message(line.encode())}")
                    if isinstance(data, dict):
                        yield data
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"backend {self.name!r} timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"backend {self.name!r} broke off ({type(exc).__name__})") from None
