"""The interface to the thing that makes tokens.

Every backend speaks OpenAI shapes to the rest of Seadragon, whatever it speaks on the
wire. Generation is always streamed internally: ``stream_chat`` and
``stream_completion`` yield OpenAI chunk dicts, and the last chunk before the stream
ends carries ``usage`` (``choices: []``) when the backend reports token counts. The
gateway rewrites ``id``, ``model`` and ``created`` and assembles non-streamed answers.

A chat body is OpenAI's, whatever API the caller used: ``messages`` (roles ``system``,
``developer``, ``user``, ``assistant``, ``tool``; ``content`` a string or ``text`` /
``image_url`` parts whose URLs are ``data:`` URLs; assistant ``tool_calls`` with
``function.arguments`` as a JSON string; ``tool_call_id``; an assistant's earlier
``reasoning_content``), ``tools``, ``tool_choice``, ``parallel_tool_calls``,
``response_format``, ``reasoning_effort``, ``logprobs``/``top_logprobs``,
``max_completion_tokens``, ``stop``, ``seed`` and the sampling fields. Chunk deltas carry
``content``, ``reasoning_content`` (the model's thinking) and ``tool_calls`` (``index``,
``id``, ``type``, ``function.name``, ``function.arguments`` fragments).

Closing the async generator (``aclose``, or cancelling the task iterating it) must
close the upstream connection: that is how cancellation reaches the GPU.
Failures are raised as ``UpstreamError`` / ``UpstreamTimeout`` / ``InvalidRequest``
(``seadragon.errors``), never as transport exceptions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from seadragon.config import BackendConfig


class Backend(ABC):
    """One upstream server with a fixed number of slots."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def slots(self) -> int:
        return self.config.slots

    @abstractmethod
    async def list_models(self) -> list[str]:
        """Model names the backend serves now (``UpstreamError`` if unreachable)."""

    async def loaded_models(self) -> list[str] | None:
        """Models held in memory now, ready without a load; None when the backend cannot
        tell (``UpstreamError`` if unreachable)."""
        return None

    @abstractmethod
    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run an OpenAI chat request; yield ``chat.completion.chunk`` dicts."""

    @abstractmethod
    def stream_completion(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run an OpenAI completions request; yield ``text_completion`` chunk dicts."""

    @abstractmethod
    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run an OpenAI embeddings request; return the whole OpenAI response."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""
