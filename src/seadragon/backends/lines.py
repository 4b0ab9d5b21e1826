"""A streamed HTTP body read line by line: NDJSON (Ollama) and SSE (OpenAI) alike."""

from __future__ import annotations

from collections import deque

import aiohttp


def _split_lines(buffer: bytes) -> list[bytes]:
    """Complete lines of ``buffer``, then the unfinished rest (a trailing ``\\r`` is kept
    there: it may be the first half of ``\\r\\n``)."""
    if b"\r" not in buffer:
        return buffer.split(b"\n")
    held = buffer.endswith(b"\r")
    if held:
        buffer = buffer[:-1]
    lines = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if held:
        lines[-1] += b"\r"
    return lines


class Lines:
    """A streamed body's lines as text, without their ends.

    Lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (what SSE and NDJSON allow) and have no
    length limit; other Unicode line breaks inside JSON are content, not line ends.
    """

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self._content = content
        self._lines: deque[bytes] = deque()
        self._pending = b""
        self._ended = False

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> str:
        while not self._lines:
            if self._ended:
                raise StopAsyncIteration
            data = await self._content.readany()
            if data:
                *complete, self._pending = _split_lines(self._pending + data)
                self._lines.extend(complete)
            else:
                self._ended = True
                if self._pending:
                    self._lines.append(self._pending.removesuffix(b"\r"))
                    self._pending = b""
        return self._lines.popleft().decode("utf-8", "replace")
