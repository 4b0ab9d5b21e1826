"""Remote images fetched by the gateway, for the hosts an operator lists, and inlined as
``data:`` URLs before the request is checked and queued.

Off by default (``image_fetch_hosts`` empty): fetching a caller's URL would let anyone make
the gateway connect anywhere. For a listed host the fetch follows no redirect, sends no
credentials, must answer 200 with an image type within ``image_fetch_timeout_s``, and is
cut at ``max_image_bytes``. Any failure is a 400 naming the part's field.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from seadragon.config import Settings
from seadragon.errors import InvalidRequest
from seadragon.wire import ChatRequest
from seadragon.wire_responses import ResponsesRequest

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass
class Slot:
    """Where one remote image URL sits, so it can be replaced in place."""

    holder: dict[str, Any]
    key: str
    param: str

    @property
    def url(self) -> Any:
        return self.holder.get(self.key)


def _remote(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def chat_slots(body: ChatRequest) -> list[Slot]:
    slots = []
    for i, message in enumerate(body.messages):
        for j, part in enumerate(message.content if isinstance(message.content, list) else ()):
            image = part.get("image_url") if part.get("type") == "image_url" else None
            if isinstance(image, dict) and _remote(image.get("url")):
                slots.append(Slot(image, "url", f"messages[{i}].content[{j}].image_url.url"))
    return slots


def responses_slots(body: ResponsesRequest) -> list[Slot]:
    slots = []
    for i, item in enumerate(body.input if isinstance(body.input, list) else ()):
        content = item.get("content")
        for j, part in enumerate(content if isinstance(content, list) else ()):
            image = part.get("image_url") if isinstance(part, dict) else None
            if _remote(image) and part.get("type") == "input_image":
                slots.append(Slot(part, "image_url", f"input[{i}].content[{j}].image_url"))
    return slots


async def inline_remote_images(slots: list[Slot], settings: Settings) -> None:
    """Replace each allowed remote URL by a ``data:`` URL; leave others to be refused."""
    hosts = {host.lower() for host in settings.image_fetch_hosts}
    wanted = [s for s in slots if (urlsplit(s.url).hostname or "") in hosts]
    if not wanted:
        return
    timeout = httpx.Timeout(settings.image_fetch_timeout_s)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        for slot in wanted:
            slot.holder[slot.key] = await _fetch(client, slot, settings.max_image_bytes)


async def _fetch(client: httpx.AsyncClient, slot: Slot, max_bytes: int) -> str:
    url: str = slot.url
    if urlsplit(url).username is not None:
        raise InvalidRequest(f"{slot.param} must not carry credentials", param=slot.param)
    try:
        async with client.stream("GET", url) as response:
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or kind not in IMAGE_TYPES:
                raise InvalidRequest(
                    f"{slot.param}: the image URL answered {response.status_code} "
                    f"with {kind or 'no content type'}, not a PNG, JPEG, GIF or WebP image",
                    param=slot.param,
                )
            data = bytearray()
            async for piece in response.aiter_bytes():
                data += piece
                if len(data) > max_bytes:
                    raise InvalidRequest(
                        f"{slot.param}: the image is larger than {max_bytes} bytes",
                        param=slot.param,
                        code="image_too_large",
                    )
    except httpx.HTTPError as exc:
        raise InvalidRequest(
            f"{slot.param}: the image could not be fetched ({type(exc).__name__})",
            param=slot.param,
        ) from None
    return f"data:{kind};base64,{base64.b64encode(bytes(data)).decode('ascii')}"
