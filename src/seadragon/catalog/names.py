"""Model names an admin may pull, push, copy, create or delete.

``name[:tag]``, ``namespace/name[:tag]``, or ``host/namespace/name[:tag]`` where the host
is Ollama's registry or one named in ``model_registries``: never a path (``..``,
backslashes, a leading slash) and never a registry the operator did not allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from seadragon.errors import InvalidRequest

DEFAULT_REGISTRY = "registry.ollama.ai"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")


def check_model_name(name: str, registries: Iterable[str], field: str = "model") -> str:
    """``name`` if an admin may act on it; else ``InvalidRequest`` naming ``field``."""
    if not name:
        raise InvalidRequest(f"{field} is required", param=field)
    if len(name) > 350 or "\x00" in name or ".." in name or "\\" in name:
        raise InvalidRequest(f"{field}: {name[:60]!r} is not a valid model name", param=field)
    path, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    if tag and not _TAG.match(tag):
        raise InvalidRequest(f"{field}: the tag {tag[:60]!r} is not valid", param=field)
    parts = path.split("/")
    host = None
    if len(parts) == 3 or (len(parts) == 2 and ("." in parts[0] or ":" in parts[0])):
        host, *parts = parts
    if not 1 <= len(parts) <= 2 or not all(_SEGMENT.match(p) for p in parts):
        raise InvalidRequest(f"{field}: {name[:60]!r} is not a valid model name", param=field)
    if host is not None:
        allowed = {DEFAULT_REGISTRY, *(r.lower() for r in registries)}
        if not _HOST.match(host) or host.lower() not in allowed:
            raise InvalidRequest(
                f"{field}: the registry {host[:60]!r} is not allowed "
                "(an admin can add it to the model_registries setting)",
                param=field,
            )
    return name
