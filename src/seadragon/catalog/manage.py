"""Model management passed through to the chosen Ollama backends.

``choose`` picks the targets: a backend by name, or every Ollama backend (``None`` or
``"all"``); actions on an existing model go only to backends that have it. ``progress``
runs one streamed action (pull, push, create) on every target at once and yields
Ollama's progress lines, each with the ``backend`` it came from, then one
``{"status": "success"}`` — or, if any target failed, an error naming each failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from seadragon.catalog.listing import Backend
from seadragon.errors import InvalidRequest, ModelNotFound, SeadragonError, UpstreamError

_DONE = object()


def choose(backends: list[Backend], wanted: str | None, model: str | None = None) -> list[Backend]:
    """The Ollama backends an action goes to (``model``: only those that have it)."""
    ollama = [b for b in backends if b.kind == "ollama"]
    if wanted not in (None, "all"):
        named = [b for b in backends if b.name == wanted]
        if not named:
            known = ", ".join(b.name for b in ollama) or "none"
            raise InvalidRequest(
                f"no backend named {wanted!r} (Ollama backends: {known})", param="backend"
            )
        if named[0].kind != "ollama":
            raise InvalidRequest(
                f"backend {wanted!r} is an OpenAI-compatible server: Seadragon manages models "
                "only on Ollama backends",
                param="backend",
            )
        ollama = named
    if not ollama:
        raise InvalidRequest("no Ollama backend is connected to manage models on", param="backend")
    if model is not None:
        having = [b for b in ollama if model in b.models]
        if not having:
            raise ModelNotFound(f'model "{model}" not found', param="model")
        return having
    return ollama


async def progress(
    targets: list[Backend], path: str, body: dict[str, Any], model: str
) -> AsyncIterator[dict[str, Any]]:
    """Every target's progress lines as they come, then one final line."""
    lines: asyncio.Queue[Any] = asyncio.Queue()
    failures: dict[str, str] = {}

    async def run(backend: Backend) -> None:
        try:
            async for line in backend.host.stream(path, body, model):
                if line.get("status") != "success":
                    await lines.put({**line, "backend": backend.name})
        except SeadragonError as error:
            failures[backend.name] = error.message
            await lines.put({"status": f"failed: {error.message}", "backend": backend.name})
        finally:
            await lines.put(_DONE)

    tasks = [asyncio.create_task(run(b)) for b in targets]
    try:
        running = len(tasks)
        while running:
            item = await lines.get()
            if item is _DONE:
                running -= 1
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if failures:
        raise UpstreamError("; ".join(message for _, message in sorted(failures.items())))
    yield {"status": "success"}


async def each(
    targets: list[Backend], method: str, path: str, body: Any, model: str
) -> dict[str, Any]:
    """One plain call on every target; raises the first failure, naming its backend."""
    results = await asyncio.gather(
        *(b.host.call(method, path, body, model=model) for b in targets), return_exceptions=True
    )
    for result in results:
        if isinstance(result, SeadragonError):
            raise result
        if isinstance(result, BaseException):
            raise result
    return {"status": "success", "backends": [b.name for b in targets]}
