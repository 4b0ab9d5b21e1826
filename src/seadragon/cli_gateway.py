"""Talking to a running gateway over HTTP, for the commands that act through it.

``seadragon models …`` manages models on the backends a gateway knows, so it calls that
gateway's API with an admin's API key rather than opening the database. The gateway is
``--url``, else ``SEADRAGON_URL``, else this machine's ``serve`` address from the settings
(``host`` and ``port``); the key is ``--api-key``, else ``SEADRAGON_API_KEY``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import orjson
import typer

from seadragon.cli_console import fail, settings_or_exit

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="SEADRAGON_URL",
        help="The gateway, e.g. http://gw1:8000 (default: host and port of the settings).",
        show_envvar=True,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="SEADRAGON_API_KEY",
        help="An administrator's API key.",
        show_envvar=True,
    ),
]
#: Listing answers at once; a pull may sit silent while Ollama verifies a large blob.
CALL_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=900.0, write=60.0, pool=5.0)
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - listening on all, so call loopback


def gateway_url(given: str | None) -> str:
    """The gateway's base URL: the option or variable, else the configured serve address."""
    if given:
        if not given.startswith(("http://", "https://")):
            raise fail(f"--url must start with http:// or https://, got {given!r}", 2)
        return given.rstrip("/")
    settings = settings_or_exit()
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def error_message(response: httpx.Response) -> str:
    """The gateway's error text (Ollama's ``{"error": "…"}`` or OpenAI's shape)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    text = str(error) if error else response.text.strip()[:200]
    return f"{response.status_code}: {text or response.reason_phrase}"


class GatewayClient:
    """An admin's calls to one gateway; every failure becomes a clean exit 1."""

    def __init__(self, url: str | None, api_key: str | None) -> None:
        if not api_key:
            raise fail("an administrator's API key is needed: --api-key or SEADRAGON_API_KEY", 2)
        self.url = gateway_url(url)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def _client(self, timeout: httpx.Timeout) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers=self._headers, timeout=timeout, trust_env=False
        )

    def _unreachable(self, exc: httpx.HTTPError) -> typer.Exit:
        if isinstance(exc, httpx.TimeoutException):
            return fail(f"the gateway at {self.url} did not answer in time")
        return fail(f"cannot reach the gateway at {self.url} ({type(exc).__name__})")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON call; the parsed answer (``None`` for an empty one)."""
        try:
            with self._client(CALL_TIMEOUT) as http:
                response = http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise fail(error_message(response))
        if not response.content.strip():
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise fail(f"the gateway at {self.url} answered something other than JSON") from None

    @contextmanager
    def lines(self, path: str, body: Any) -> Iterator[Iterator[dict[str, Any]]]:
        """POST and read the NDJSON answer line by line, as it comes."""
        try:
            with (
                self._client(STREAM_TIMEOUT) as http,
                http.stream("POST", path, json=body) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    raise fail(error_message(response))
                yield self._parsed(response)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.TimeoutException | httpx.ConnectError):
                raise self._unreachable(exc) from None
            raise fail(f"the gateway at {self.url} broke off ({type(exc).__name__})") from None

    def _parsed(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise fail(f"the gateway at {self.url} sent a malformed line") from None
            if isinstance(data, dict):
                yield data
