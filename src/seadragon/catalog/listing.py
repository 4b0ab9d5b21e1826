"""``/api/tags``, ``/api/ps`` and ``/api/show`` across every backend, each model once.

Ollama backends are asked directly; what an OpenAI-kind backend serves is described from
what its worker advertises (it has no sizes or digests to tell: those are left empty).
A model's entry is the first backend's that has it; ``seadragon.backends`` lists them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from seadragon.catalog.client import OllamaHost
from seadragon.errors import ModelNotFound, SeadragonError
from seadragon.queue.status import WorkerInfo

log = logging.getLogger("seadragon.catalog")
EPOCH = "1970-01-01T00:00:00Z"


@dataclass
class Backend:
    """A backend as the gateway knows it from its workers' advertisements."""

    name: str
    kind: str
    url: str
    reachable: bool
    models: list[str] = field(default_factory=list)

    @property
    def host(self) -> OllamaHost:
        return OllamaHost(self.name, self.url)


def backends_of(workers: Iterable[WorkerInfo]) -> list[Backend]:
    """One entry per backend name (several workers may serve one backend)."""
    seen: dict[str, Backend] = {}
    for worker in workers:
        known = seen.get(worker.backend)
        if known is None:
            seen[worker.backend] = Backend(
                worker.backend, worker.kind, worker.url, worker.reachable, list(worker.models)
            )
        else:
            known.reachable = known.reachable or worker.reachable
            known.models = sorted(set(known.models) | set(worker.models))
    return sorted(seen.values(), key=lambda b: b.name)


def _served(backend: Backend, name: str) -> bool:
    return name in backend.models


def _described(name: str) -> dict[str, Any]:
    details = {"format": "", "family": "", "families": None, "parameter_size": "",
               "quantization_level": ""}  # fmt: skip
    return {"name": name, "model": name, "modified_at": EPOCH, "size": 0, "digest": "",
            "details": details}  # fmt: skip


def _bare_aliases(models: list[str]) -> set[str]:
    """``llama3`` when ``llama3:latest`` is listed too: the alias is not a model of its own."""
    return {m.removesuffix(":latest") for m in models if m.endswith(":latest")}


async def _ask(backend: Backend, path: str) -> list[dict[str, Any]] | None:
    try:
        data = await backend.host.call("GET", path)
    except SeadragonError as exc:
        log.info("%s on %s failed: %s", path, backend.name, exc.message)
        return None
    models = data.get("models") if isinstance(data, dict) else None
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else None


async def per_backend(backends: list[Backend], path: str) -> list[list[dict[str, Any]] | None]:
    """Each Ollama backend's ``models`` at ``path`` (None: not Ollama, or no answer)."""

    async def one(backend: Backend) -> list[dict[str, Any]] | None:
        if backend.kind != "ollama" or not backend.reachable:
            return None
        return await _ask(backend, path)

    return list(await asyncio.gather(*(one(b) for b in backends)))


def _merge(
    backends: list[Backend], answers: list[list[dict[str, Any]] | None], *, loaded: bool
) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for backend, answer in zip(backends, answers, strict=True):
        if not backend.reachable:
            continue
        if answer is None:
            if loaded and backend.kind == "ollama":
                continue  # an Ollama that did not answer /api/ps: nothing known loaded
            skip = _bare_aliases(backend.models)
            answer = [_described(m) for m in backend.models if m not in skip]
            if loaded:
                for entry in answer:
                    entry["size_vram"] = 0
                    del entry["modified_at"]
        for entry in answer:
            name = entry.get("name") or entry.get("model")
            if not isinstance(name, str) or (not loaded and not _served(backend, name)):
                continue
            item = merged.setdefault(name, {**entry, "name": name, "model": name})
            item.setdefault("_backends", []).append(backend.name)
    return merged


def _public(merged: dict[str, dict[str, Any]], admin: bool) -> list[dict[str, Any]]:
    out = []
    for name in sorted(merged):
        entry = dict(merged[name])
        backends = entry.pop("_backends")
        if admin:
            entry["seadragon"] = {"backends": backends}
        out.append(entry)
    return out


async def tags(workers: Iterable[WorkerInfo], *, admin: bool) -> dict[str, Any]:
    """Every model some reachable backend serves."""
    backends = backends_of(workers)
    answers = await per_backend(backends, "/api/tags")
    return {"models": _public(_merge(backends, answers, loaded=False), admin)}


async def ps(workers: Iterable[WorkerInfo], *, admin: bool) -> dict[str, Any]:
    """Models loaded now; an OpenAI-kind server holds its models for as long as it runs."""
    backends = backends_of(workers)
    answers = await per_backend(backends, "/api/ps")
    return {"models": _public(_merge(backends, answers, loaded=True), admin)}


async def show(workers: Iterable[WorkerInfo], model: str, *, admin: bool) -> dict[str, Any]:
    """Ollama's ``/api/show`` from the first Ollama backend serving ``model``."""
    serving = [b for b in backends_of(workers) if b.reachable and _served(b, model)]
    if not serving:
        raise ModelNotFound(f'model "{model}" not found', param="model")
    serving.sort(key=lambda b: b.kind != "ollama")
    first = serving[0]
    if first.kind == "ollama":
        data = await first.host.call("POST", "/api/show", {"model": model}, model=model)
        data = data if isinstance(data, dict) else {}
    else:
        described = _described(model)
        data = {"modelfile": "", "parameters": "", "template": "", "license": "",
                "details": described["details"], "model_info": {},
                "capabilities": ["completion"], "modified_at": EPOCH}  # fmt: skip
    data.setdefault("model_info", {})
    if admin:
        data["seadragon"] = {"backends": [b.name for b in serving]}
    return data
