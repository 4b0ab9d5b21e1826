"""Which band a request runs in: its caller's cap, or lower if the request asks.

``bands`` is ordered highest first. A request can only lower its band: OpenAI's
``service_tier: "flex"`` moves it one band below the cap, ``X-Seadragon-Priority: <band>``
names a band that is clamped to the cap; when both are given the lower one wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from seadragon.auth.caller import Caller
from seadragon.errors import InvalidRequest

PRIORITY_HEADER = "X-Seadragon-Priority"
_AS_CAP = {"auto", "default"}
#: OpenAI tiers that ask for more than standard service; a caller cannot rise above its cap.
_AT_MOST_CAP = {"auto", "default", "priority", "scale"}


def resolve_band(
    caller: Caller, bands: Sequence[str], service_tier: str | None, header: str | None
) -> str:
    # A cap no longer in the configured bands (a key from an older config) gets the lowest.
    cap = bands.index(caller.band_cap) if caller.band_cap in bands else len(bands) - 1
    chosen = cap
    if service_tier is not None:
        if service_tier == "flex":
            chosen = max(chosen, min(cap + 1, len(bands) - 1))
        elif service_tier not in _AT_MOST_CAP:
            raise InvalidRequest(
                f"service_tier must be one of auto, default, flex; got {service_tier[:40]!r}",
                param="service_tier",
            )
    if header is not None:
        wanted = header.strip().lower()
        if wanted in bands:
            chosen = max(chosen, bands.index(wanted))
        elif wanted not in _AS_CAP:
            raise InvalidRequest(
                f"{PRIORITY_HEADER} must be one of {', '.join(bands)} or auto",
                param=PRIORITY_HEADER,
            )
    return bands[chosen]
