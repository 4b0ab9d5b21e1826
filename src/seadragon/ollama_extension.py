"""The Ollama-only part of a job's OpenAI-shaped body.

Jobs carry OpenAI shapes (see ``seadragon.backends.base``). What an Ollama client sends
that has no OpenAI field — ``keep_alive``, options such as ``num_ctx`` or ``top_k``, and
for ``/api/generate`` ``raw``, ``template``, ``system`` and ``context`` — travels under
the body's ``"ollama"`` key. An Ollama backend merges it into what it sends; any other
backend refuses a job that carries it, naming the field, rather than dropping it.
"""

from __future__ import annotations

from typing import Any

from seadragon.errors import InvalidRequest

OLLAMA_EXTENSION = "ollama"
#: Fields of the extension an Ollama backend copies into its request as they are.
TOP_LEVEL = ("keep_alive", "template", "context", "system", "raw", "truncate")


def extension_of(body: dict[str, Any]) -> dict[str, Any]:
    """The job's Ollama-only fields (empty when it has none)."""
    value = body.get(OLLAMA_EXTENSION)
    return value if isinstance(value, dict) else {}


def first_field(extension: dict[str, Any]) -> str | None:
    """The name (``options.top_k``, ``template``…) of a field the extension sets, if any."""
    for key in TOP_LEVEL:
        if extension.get(key) is not None:
            return key
    for key in sorted(extension.get("options") or {}):
        return f"options.{key}"
    return None


def refuse_extension(body: dict[str, Any], backend: str) -> dict[str, Any]:
    """``body`` without the extension; ``InvalidRequest`` if it sets anything."""
    field = first_field(extension_of(body))
    if field is not None:
        raise InvalidRequest(
            f"{field} is only supported by Ollama backends; backend {backend!r} "
            "speaks the OpenAI API",
            param=field,
        )
    return {key: value for key, value in body.items() if key != OLLAMA_EXTENSION}


def merge_extension(payload: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """An Ollama request ``payload`` with the job's Ollama-only fields merged in.

    The request's own ``keep_alive`` wins over the operator's per-model default; its
    ``options`` add to those already in ``payload`` (hardware options never travel here).
    """
    extension = extension_of(body)
    for key in TOP_LEVEL:
        if extension.get(key) is not None:
            payload[key] = extension[key]
    options = extension.get("options")
    if isinstance(options, dict) and options:
        payload["options"] = {**(payload.get("options") or {}), **options}
    return payload
